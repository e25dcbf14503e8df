"""dlq replay's consume rule, without Kafka: republish what passes, discard only on request,
keep the rest with the reason it fails with now."""

import json

from streams.model.tables import TableSpec
from streams.pipeline.dlq import HEADER_REASON, HEADER_TOPIC
from streams.pipeline.dlq_replay import Letter, ReplaySummary, sort_letters
from streams.settings import Settings
from tests.support import REDIS_LAYOUTS, upsert, with_redis_layout
from tests.support.debezium import USERS, envelope, record_key

SETTINGS = Settings()


def letter(value: bytes, reason: str) -> Letter:
    return Letter(0, 0, b"k", value, {HEADER_REASON: reason, "cdc.original.offset": "7"})


GOOD = upsert("o", "p", 1).to_json()
UNKNOWN = json.dumps({**json.loads(GOOD), "table": "profiles"}).encode()


def test_only_republished_or_discarded_letters_are_consumed() -> None:
    summary = ReplaySummary()
    letters = [letter(GOOD, "unknown_table"), letter(b"junk", "not_json"),
               letter(UNKNOWN, "schema")]  # fmt: skip
    events, kept = sort_letters(letters, SETTINGS.tables, {"not_json"}, summary)
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
    events, _ = sort_letters(rejected, SETTINGS.tables, (), ReplaySummary())
    assert len(events) == 1
    summary = ReplaySummary()
    events, kept = sort_letters(rejected, SETTINGS.tables, {"rejected_by_store"}, summary)
    assert events == [] and kept == [] and summary.discarded == 1


def test_a_debezium_letter_is_decoded_as_its_origin_topic_reads() -> None:
    """A letter from a Debezium topic for a table declared only later: kept (unknown_table)
    until the table is declared, then republished as the Debezium decoder reads it."""
    users = USERS.model_copy(update={"topic": "pg.all"})
    orders = TableSpec(partition_key="order_id", format="debezium", source="pg.public.orders",
                       topic="pg.all", columns={"id": "order_id"})  # fmt: skip
    before = Settings(tables={**SETTINGS.tables, "users": users})
    after = Settings(tables={**before.tables, "orders": orders})
    origin = {HEADER_REASON: "unknown_table", HEADER_TOPIC: "pg.all"}
    placed = envelope("c", 900, after={"id": 5, "total": 3}, table="orders")
    removed = envelope("d", 901, table="orders")  # no `before`: the record key names the row
    letters = [Letter(0, 0, record_key(5), placed, origin),
               Letter(1, 0, record_key(6), removed, origin),
               letter(GOOD, "unknown_table")]  # fmt: skip  # the last from the changes topic

    events, kept = sort_letters(letters, before.tables, (), ReplaySummary())
    assert [e.table for e in events] == ["opponents"]
    assert [dict(headers)[HEADER_REASON] for _, _, headers in kept] == [b"unknown_table"] * 2

    events, kept = sort_letters(letters, after.tables, (), ReplaySummary())
    assert kept == []
    upserted, deleted, _ = events
    assert (upserted.op, upserted.key, upserted.data) == ("upsert", {"order_id": "5"}, {"total": 3})
    assert (deleted.op, deleted.key) == ("delete", {"order_id": "6"})
    assert upserted.origin == "debezium:pg" and deleted.ts > upserted.ts  # the log's order


def test_a_store_rejection_the_layout_cannot_hold_is_kept_not_republished() -> None:
    """Redis rejected it before the rule moved to decode: a replay would send it straight back
    to the dead letters, so it stays here, failing for the reason decode now gives."""
    legacy = REDIS_LAYOUTS["template"]
    settings = Settings(tables=with_redis_layout(SETTINGS, legacy).tables)
    tagged = upsert("o", "p", 1, metadata="m", timestamp=1, tags=["x"]).to_json()
    summary = ReplaySummary()
    events, kept = sort_letters([letter(tagged, "rejected_by_store")], settings.tables, (), summary)
    assert events == [] and summary.still_invalid == 1
    [(_, _, headers)] = kept
    assert dict(headers)[HEADER_REASON] == b"bad_data"
    assert b"holds no attribute 'tags'" in dict(headers)["cdc.error.message"]


def test_a_debezium_letter_feeds_every_table_declaring_its_source_again() -> None:
    """One record, two tables: replayed, it is republished for both."""
    profiles = USERS.model_copy(update={"dynamodb_table": "profiles"})
    settings = Settings(tables={"users": USERS, "profiles": profiles})
    origin = {HEADER_REASON: "unknown_table", HEADER_TOPIC: USERS.feed_topic("")}
    value = envelope("c", 900, after={"id": 5, "name": "a b"})
    events, kept = sort_letters([Letter(0, 0, record_key(5), value, origin)], settings.tables, (),
                                ReplaySummary())  # fmt: skip
    assert kept == [] and sorted(e.table for e in events) == ["profiles", "users"]
