"""Live-item expiry: the instant both stores use, and what a table may declare."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from streams.model.expiry import ExpirySpec, expires_at, is_past
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
    assert expires_at(BY_ATTRIBUTE, data, now=5.0) == at


def test_a_lifetime_counts_from_the_write() -> None:
    assert expires_at(ExpirySpec(lifetime_seconds=60), {}, now=100.7) == 160
    assert expires_at(None, {"expires_at": 1}, now=100) is None


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
    ],
)
def test_a_table_declares_one_expiry(expiry: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        TableSpec.model_validate(
            {"partition_key": "owner_id", "sort_key": "opponent_id", "expiry": expiry}
        )
