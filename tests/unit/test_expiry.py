"""Live-item expiry: the instant both stores use, and what a table may declare."""

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from streams.model.errors import InvalidEventError
from streams.model.events import decode_event
from streams.model.expiry import ExpirySpec, expires_at, expiry_problem, is_past
from streams.model.tables import TableSpec

BY_ATTRIBUTE = ExpirySpec(attribute="expires_at")


@pytest.mark.parametrize(
    ("data", "at"),
    [
        ({"expires_at": 1_700_000_000}, 1_700_000_000),
        ({"expires_at": 1_700_000_000.2}, 1_700_000_001),  # whole seconds, never earlier
        ({"expires_at": Decimal("12.5")}, 13),
        ({}, None),  # without it, the item never expires
        ({"expires_at": "soon"}, None),  # not a number: ignored, as DynamoDB's TTL does
        ({"expires_at": True}, None),
        ({"expires_at": 10**20}, None),  # beyond the year 9999
    ],
)
def test_an_attribute_holds_the_instant(data: dict[str, object], at: int | None) -> None:
    assert expires_at(BY_ATTRIBUTE, data, ts=5_000_000) == at


def test_a_lifetime_counts_from_the_version_time_so_a_replay_gets_the_same_instant() -> None:
    lifetime = ExpirySpec(lifetime_seconds=60)
    assert expires_at(lifetime, {}, ts=100_700_000) == 161  # whole seconds, never earlier
    assert expires_at(lifetime, {}, ts=100_000_000) == 160
    assert expires_at(None, {"expires_at": 1}, ts=100) is None


@pytest.mark.parametrize("value", [1_700_000_000_000, 10**11 + 1, 10**20, Decimal("1e12")])
def test_an_instant_in_milliseconds_or_past_the_year_9999_is_refused(value: object) -> None:
    problem = expiry_problem(BY_ATTRIBUTE, {"expires_at": value})
    assert problem is not None and "epoch seconds are expected" in problem
    assert "milliseconds" in problem


@pytest.mark.parametrize("value", [1_700_000_000, 10**11, -5, "soon", True, None])
def test_an_instant_in_seconds_or_no_number_passes(value: object) -> None:
    assert expiry_problem(BY_ATTRIBUTE, {"expires_at": value}) is None


def test_past_means_at_or_before_now() -> None:
    assert is_past(100, 100.0) and is_past(99, 100.0)
    assert not is_past(101, 100.0) and not is_past(None, 100.0)


@pytest.mark.parametrize(
    ("expiry", "says"),
    [
        ({}, "exactly one of 'attribute' and 'lifetime_seconds'"),
        ({"attribute": "e", "lifetime_seconds": 5}, "exactly one"),
        ({"attribute": "_e"}, "bookkeeping"),
        ({"attribute": "opponent_id"}, "must be a data attribute"),
        ({"lifetime_seconds": 0}, "greater than or equal to 1"),
        ({"lifetime_seconds": 5, "debezium": True}, "versions are log positions"),
    ],
)
def test_a_table_declares_one_expiry(expiry: dict[str, object], says: str) -> None:
    source = {"format": "debezium", "source": "db.public.t"} if expiry.pop("debezium", 0) else {}
    with pytest.raises(ValidationError, match=says):
        TableSpec.model_validate(
            {"partition_key": "owner_id", "sort_key": "opponent_id", "expiry": expiry} | source
        )


def test_decode_dead_letters_an_instant_in_milliseconds() -> None:
    spec = TableSpec(partition_key="id", expiry=BY_ATTRIBUTE)
    event = {"table": "t", "op": "upsert", "key": {"id": "a"}, "ts": 1, "origin": "o",
             "event_id": "e", "data": {"expires_at": 1_700_000_000_000}}  # fmt: skip
    with pytest.raises(InvalidEventError, match="epoch seconds are expected") as caught:
        decode_event(json.dumps(event).encode(), {"t": spec})
    assert caught.value.reason == "bad_data"
    event["data"] = {"expires_at": 1_700_000_000}
    assert decode_event(json.dumps(event).encode(), {"t": spec}).data == event["data"]
