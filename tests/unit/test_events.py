import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.model.errors import InvalidEventError
from streams.model.events import MAX_TS, ChangeEvent, ItemId, Version, decode_event
from streams.model.redis_layout_spec import RedisLayoutSpec
from streams.model.tables import DEFAULT_TABLES, TableSpec

TABLES = dict(DEFAULT_TABLES) | {"single": TableSpec(partition_key="id")}

VALID: dict[str, Any] = {
    "table": "opponents",
    "op": "upsert",
    "key": {"owner_id": "1,a", "opponent_id": "2,b"},
    "data": {"metadata": "...", "timestamp": 1613725769},
    "ts": 1613725769000000,
    "origin": "messaging-api",
    "event_id": "8f0c2c1e-0000",
}


def raw(**changes: Any) -> bytes:
    event = {**VALID, **changes}
    return json.dumps({k: v for k, v in event.items() if v is not ...}).encode()


def test_the_documented_example_decodes() -> None:
    event = decode_event(raw(), TABLES)
    assert event.version == Version(1613725769000000, "messaging-api", "8f0c2c1e-0000")
    assert event.item_id(TABLES["opponents"]) == ItemId("opponents", "1,a", "2,b")


def test_a_delete_needs_no_data() -> None:
    event = decode_event(raw(op="delete", data=...), TABLES)
    assert event.op == "delete" and event.data is None


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"\x00\xff not json", "not_json"),
        (b"[1, 2]", "schema"),
        (raw(op="merge"), "schema"),
        (raw(ts=-1), "schema"),
        (raw(ts=MAX_TS + 1), "schema"),
        (raw(ts=1.5), "schema"),
        (raw(ts="1613725769000000"), "schema"),
        (raw(origin="has space"), "schema"),
        (raw(event_id=""), "schema"),
        (raw(extra=1), "schema"),
        (raw(key={"owner_id": 1, "opponent_id": "x"}), "schema"),
        (raw(table="nope"), "unknown_table"),
        (raw(key={"owner_id": "1,a"}), "bad_key"),
        (raw(data=...), "schema"),
        (raw(data={"owner_id": "dup"}), "bad_data"),
        (raw(data={"": "no name"}), "bad_data"),
        (raw(data={"timestamp": "yesterday"}), "bad_data"),
        (raw().replace(b'"...",', b"NaN,"), "bad_data"),
        (raw().replace(b'"...",', b"Infinity,"), "bad_data"),
    ],
)
def test_malformed_events_say_why(message: bytes, reason: str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        decode_event(message, TABLES)
    assert caught.value.reason == reason, str(caught.value)


def test_missing_value_is_not_json() -> None:
    with pytest.raises(InvalidEventError, match="no value"):
        decode_event(None, TABLES)


def test_kafka_key_is_the_item_identity() -> None:
    assert ItemId("opponents", "1,a", "2,b").kafka_key() == b'["opponents","1,a","2,b"]'
    assert ItemId("single", "x", "").kafka_key() == b'["single","x"]'


origins = st.from_regex(r"[A-Za-z0-9._:/@+\-]{1,12}", fullmatch=True)
event_ids = st.from_regex(r"[!-~]{1,12}", fullmatch=True)
versions = st.builds(Version, st.integers(0, MAX_TS), origins, event_ids)


@given(versions, versions)
def test_token_order_is_version_order(a: Version, b: Version) -> None:
    assert (a.token() < b.token()) == (a < b)
    assert (a.token() == b.token()) == (a == b)
    # Stores compare bytes; tokens are ASCII, so byte order is the same.
    assert (a.token().encode() < b.token().encode()) == (a < b)


def test_to_json_round_trips() -> None:
    event = decode_event(raw(), TABLES)
    assert ChangeEvent.model_validate_json(event.to_json()) == event


def test_the_committed_json_schema_is_current() -> None:
    committed = Path(__file__).resolve().parents[2] / "schema" / "change-event.v1.json"
    assert json.loads(committed.read_text()) == ChangeEvent.model_json_schema(), (
        "regenerate with: cdc-replicator schema > schema/change-event.v1.json"
    )


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("garbage", "not a version token"),
        ("", "not a version token"),
        ("99999999999999999 o e", "above 2^53"),
        ("1 o e", "not 16 digits"),
        ("0000000000000001 bad! e", "not a valid origin"),
        ("0000000000000001 o " + "e" * 129, "event id"),
    ],
)
def test_a_malformed_version_token_is_refused_with_its_cause(token: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        Version.from_token(token)


def test_a_version_token_reads_back_as_its_version() -> None:
    version = Version(MAX_TS, "snapshot:dynamodb", "a!")
    assert Version.from_token(version.token()) == version


LEGACY_LAYOUT = RedisLayoutSpec(
    layout="template", index_key="opponents:{owner_id}", key="opponent:{owner_id}:{opponent_id}",
    value_attribute="metadata",
)  # fmt: skip
IN_LAYOUTS = {
    "template": TABLES | {"opponents": DEFAULT_TABLES["opponents"].model_copy(
        update={"redis": LEGACY_LAYOUT})},
    "hash": TABLES | {"opponents": DEFAULT_TABLES["opponents"].model_copy(
        update={"redis": RedisLayoutSpec(layout="hash")})},
}  # fmt: skip


@pytest.mark.parametrize(
    ("layout", "data", "why"),
    [
        ("template", {"metadata": "m", "timestamp": 1, "tags": ["x"]},
         "redis: the template layout of opponents holds no attribute 'tags' "
         "(only 'metadata' and the index 'timestamp')"),
        ("template", {"timestamp": 1}, "redis: the template layout of opponents needs 'metadata'"),
        ("template", {"metadata": 5}, "holds 'metadata' as text (value_format 'text')"),
        ("hash", {}, "redis: the hash layout of opponents cannot hold an item without data"),
    ],
)  # fmt: skip
def test_an_upsert_the_redis_layout_cannot_hold_is_refused_at_decode(
    layout: str, data: dict[str, Any], why: str
) -> None:
    """Refused before any store, so Redis never rejects what DynamoDB took."""
    with pytest.raises(InvalidEventError) as caught:
        decode_event(raw(data=data), IN_LAYOUTS[layout])
    assert caught.value.reason == "bad_data" and why in str(caught.value)


def test_what_a_layout_holds_decodes() -> None:
    for data in ({"metadata": "m", "timestamp": 1}, {"metadata": "m"}):
        decode_event(raw(data=data), IN_LAYOUTS["template"])
    decode_event(raw(op="delete", data=...), IN_LAYOUTS["template"])
    decode_event(raw(op="delete", data=...), IN_LAYOUTS["hash"])
    decode_event(raw(data={}), TABLES)  # the cdc layout holds anything
