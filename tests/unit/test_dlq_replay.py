"""dlq replay's consume rule, without Kafka: republish what passes, discard only on request,
keep the rest with the reason it fails with now."""

import json

from streams.pipeline.dlq import HEADER_REASON
from streams.pipeline.dlq_replay import Letter, ReplaySummary, sort_letters
from streams.settings import Settings
from tests.support import upsert

SETTINGS = Settings()


def letter(value: bytes, reason: str) -> Letter:
    return Letter(0, 0, b"k", value, {HEADER_REASON: reason, "cdc.original.offset": "7"})


GOOD = upsert("o", "p", 1).to_json()
UNKNOWN = json.dumps({**json.loads(GOOD), "table": "profiles"}).encode()


def test_only_republished_or_discarded_letters_are_consumed() -> None:
    summary = ReplaySummary()
    letters = [letter(GOOD, "unknown_table"), letter(b"junk", "not_json"),
               letter(UNKNOWN, "schema")]  # fmt: skip
    events, kept = sort_letters(letters, SETTINGS, {"not_json"}, summary)
    assert [e.key for e in events] == [{"owner_id": "o", "opponent_id": "p"}]
    # Republished ones are counted once the broker holds them, not here.
    counts = (summary.read, summary.republished, summary.discarded, summary.still_invalid)
    assert counts == (3, 0, 1, 1)
    [(key, value, headers)] = kept
    assert (key, value) == (b"k", UNKNOWN)
    assert dict(headers)[HEADER_REASON] == b"unknown_table"  # the reason it fails with now
    assert dict(headers)["cdc.original.offset"] == b"7"


def test_a_store_rejection_is_discarded_only_when_asked() -> None:
    rejected = [letter(GOOD, "rejected_by_store")]
    events, _ = sort_letters(rejected, SETTINGS, (), ReplaySummary())
    assert len(events) == 1
    summary = ReplaySummary()
    events, kept = sort_letters(rejected, SETTINGS, {"rejected_by_store"}, summary)
    assert events == [] and kept == [] and summary.discarded == 1
