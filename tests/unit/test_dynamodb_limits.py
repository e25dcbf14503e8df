"""What DynamoDB can hold, by its API reference: item size with bookkeeping, key sizes, digits,
range and nesting; events DynamoDB cannot hold are still events (Redis holds them)."""

import json
from decimal import Decimal
from typing import Any

import pytest

from connectors.dynamodb.api import DynamoDBApi
from connectors.dynamodb.limits import (
    ITEM_LIMIT,
    CannotHoldError,
    checked_size,
    item_size,
    number_size,
)
from connectors.dynamodb.store import DynamoDBStore
from streams.model.events import ChangeEvent, decode_event
from streams.model.tables import DEFAULT_TABLES
from tests.support import upsert

SPEC = DEFAULT_TABLES["opponents"]


def stored(event: ChangeEvent) -> dict[str, Any]:
    """The item the store would put for `event`, bookkeeping included (no request is sent)."""
    store = DynamoDBStore(DynamoDBApi("http://127.0.0.1:9", "us-east-1", None), DEFAULT_TABLES)
    return store._item(event, {"S": event.version.token()})


@pytest.mark.parametrize(
    ("text", "size"),
    # As DynamoDB counts them (dynalite measured them against DynamoDB): digit pairs aligned on
    # the exponent, plus one, plus one for a negative; zero is 1; leading and trailing zeros
    # do not count.
    [("0", 1), ("-0.000", 1), ("7", 2), ("007", 2), ("12", 2), ("1.2", 3), ("1.50", 3),
     ("-7", 3), ("100", 2), ("1E+100", 2), ("123", 3), ("1234", 3), ("12345", 4),
     ("9" * 38, 20), ("-1E-130", 3)],
)  # fmt: skip
def test_numbers_count_by_digit_pairs(text: str, size: int) -> None:
    assert number_size(text) == size


def test_the_size_counts_names_values_elements_and_containers() -> None:
    listed = {"L": [{"N": "7"}, {"BOOL": True}]}
    item = {"k": {"S": "é"}, "list": listed, "m": {"M": {"a": {"NULL": True}}}}
    # k: 1 + 2 (é in UTF-8); list: 4 + 3 + (1 + 2) + (1 + 1); m: 1 + 3 + (1 + 1 + 1)
    assert item_size(item) == 3 + 12 + 7


def test_a_list_of_small_numbers_is_counted_as_dynamodb_does() -> None:
    """150,000 small numbers: 300 KB as JSON, which a JSON bound lets through, 435 KB by
    AWS's rule (1 byte per element, 1 or 2 per digit): DynamoDB refuses it."""
    numbers = [n % 10 for n in range(150_000)]
    event = upsert("user:7", "user:8", 1, numbers=numbers)
    assert len(json.dumps(numbers, separators=(",", ":"))) == 300_001
    with pytest.raises(CannotHoldError, match=r"item is 435,096 bytes by DynamoDB's rule"):
        checked_size(stored(event), SPEC)


def test_bookkeeping_counts_towards_the_limit() -> None:
    """An item whose data alone fits, but not with its version token (up to 274 bytes)."""
    long_id = "e" * 128
    base = upsert("user:7", "user:8", 1, event_id=long_id, blob="")
    room = ITEM_LIMIT - item_size(stored(base))
    fits = upsert("user:7", "user:8", 1, event_id=long_id, blob="x" * room)
    assert checked_size(stored(fits), SPEC) == ITEM_LIMIT
    over = upsert("user:7", "user:8", 1, event_id=long_id, blob="x" * (room + 1))
    with pytest.raises(CannotHoldError, match="over its 400 KB"):
        checked_size(stored(over), SPEC)
    data_alone = sum(len(k) + len(v) for k, v in {"blob": "x" * (room + 1)}.items())
    assert data_alone + len("user:7") * 2 + len("owner_idopponent_id") < ITEM_LIMIT


TOO_MUCH = [
    ({"owner_id": "", "opponent_id": "x"}, {}, "key attribute 'owner_id' is 0 bytes"),
    ({"owner_id": "x" * 2049, "opponent_id": "x"}, {}, "'owner_id' is 2,049 bytes, not 1 to 2,048"),
    ({"owner_id": "x", "opponent_id": "é" * 513}, {}, "'opponent_id' is 1,026 bytes, not 1 to"),
    ({"owner_id": "x", "opponent_id": "x"}, {"n": 10**40 + 1}, "41 significant digits, over 38"),
    ({"owner_id": "x", "opponent_id": "x"}, {"n": Decimal("1e126")}, "outside DynamoDB's"),
    ({"owner_id": "x", "opponent_id": "x"}, {"n": Decimal("1e-131")}, "outside DynamoDB's"),
    ({"owner_id": "x", "opponent_id": "x"}, {"n": 1.797e308}, "outside DynamoDB's"),
    ({"owner_id": "x", "opponent_id": "x"}, {"n": 5e-324}, "outside DynamoDB's"),
    ({"owner_id": "x", "opponent_id": "x"}, {"deep": json.loads("[" * 40 + "]" * 40)},
     "nested deeper than 32 levels"),
    ({"owner_id": "x", "opponent_id": "x"}, {"blob": "x" * 480_000}, "item is 480,0"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "data", "says"), TOO_MUCH)
def test_what_dynamodb_cannot_hold_is_named(
    key: dict[str, str], data: dict[str, Any], says: str
) -> None:
    event = upsert(key["owner_id"], key["opponent_id"], 1, **data)
    with pytest.raises(CannotHoldError, match=says):
        checked_size(stored(event), SPEC)


@pytest.mark.parametrize(("key", "data", "says"), TOO_MUCH)
def test_what_dynamodb_cannot_hold_is_still_an_event(
    key: dict[str, str], data: dict[str, Any], says: str
) -> None:
    """Redis can hold it: only DynamoDB's store refuses it, for itself."""
    message = upsert(key["owner_id"], key["opponent_id"], 1, **data).to_json()
    assert decode_event(message, DEFAULT_TABLES).key == key


def test_data_names_starting_with_an_underscore_never_meet_the_bookkeeping() -> None:
    event = upsert("user:7", "user:8", 5, _v="forged", _meta={"a": 1}, __x=1)
    item = stored(event)
    assert item["_v"] == {"S": event.version.token()}
    assert item["__v"] == {"S": "forged"} and item["___x"] == {"N": "1"}
    assert item["__meta"] == {"M": {"a": {"N": "1"}}}
