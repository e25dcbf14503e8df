"""The number rule: numbers stay exactly their decimal text, from the wire to the stores."""

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pydantic_core
import pytest
from boto3.dynamodb.types import Binary

from connectors.sources.jsonl import JsonLinesSource
from connectors.sources.snapshot_source import Chunk
from connectors.store import listing_order
from streams.model import numbers
from streams.model.errors import InvalidEventError
from streams.model.events import decode_event
from streams.model.tables import DEFAULT_TABLES
from streams.snapshot.run import snapshot_message

EVENT: dict[str, Any] = {
    "table": "opponents",
    "op": "upsert",
    "key": {"owner_id": "1,a", "opponent_id": "2,b"},
    "ts": 1,
    "origin": "svc",
    "event_id": "e",
}


def message(data_json: str) -> bytes:
    return json.dumps(EVENT).replace('"ts"', f'"data": {data_json}, "ts"').encode()


LONG = "0.12345678901234567890123456789"


def test_decoding_keeps_every_digit_and_encoding_writes_them_back() -> None:
    event = decode_event(
        message(f'{{"n": {LONG}, "m": [1.0000000000000000000001]}}'), DEFAULT_TABLES
    )
    assert event.data == {"n": Decimal(LONG), "m": [Decimal("1.0000000000000000000001")]}
    assert f'"n":{LONG}' in event.to_json().decode()
    assert decode_event(event.to_json(), DEFAULT_TABLES) == event


@pytest.mark.parametrize("text", ["1E+100", "1e125", "1e23", "1.5e18", str(10**40), "-1e-130"])
def test_numbers_dynamodb_holds_are_accepted(text: str) -> None:
    event = decode_event(message(f'{{"n": {text}}}'), DEFAULT_TABLES)
    assert event.data is not None and numbers.plain(event.data["n"]) == Decimal(text)


@pytest.mark.parametrize("text", [str(10**40 + 1), "1e126", "1e-131", LONG + "1234567891"])
def test_numbers_dynamodb_cannot_hold_are_events_all_the_same(text: str) -> None:
    """Redis holds them exactly; DynamoDB's store refuses them for itself
    (tests/unit/test_dynamodb_limits.py)."""
    event = decode_event(message(f'{{"n": {text}}}'), DEFAULT_TABLES)
    assert event.data is not None and numbers.plain(event.data["n"]) == Decimal(text)


@pytest.mark.parametrize(
    "text", [str(2**53 + 1), str(2**60), "0.10000000000000000001", str(10**23 + 1)]
)
def test_index_values_a_double_changes_are_refused(text: str) -> None:
    with pytest.raises(InvalidEventError, match="a double") as caught:
        decode_event(message(f'{{"timestamp": {text}}}'), DEFAULT_TABLES)
    assert caught.value.reason == "bad_data"


@pytest.mark.parametrize("text", [str(2**53), str(10**23), "1e23", "0.1", "400.5", "1.5e18"])
def test_index_values_a_double_gives_back_are_accepted(text: str) -> None:
    decode_event(message(f'{{"timestamp": {text}}}'), DEFAULT_TABLES)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e23, 10**23),
        (float(2**60), 1_152_921_504_606_847_000),  # what its JSON text 1.152921504606847e+18 says
        (1.5e18, 1_500_000_000_000_000_000),
        (1e125, 10**125),
        (Decimal("1E+23"), 10**23),
        (Decimal("0.50"), Decimal("0.5")),
        (Decimal(LONG), Decimal(LONG)),
        ({"a": [0.1]}, {"a": [Decimal("0.1")]}),
    ],
)
def test_plain_reads_a_float_as_its_shortest_repr(value: Any, expected: Any) -> None:
    got = numbers.plain(value)
    assert got == expected and type(got) is type(expected)


def test_dumps_writes_decimals_as_numbers() -> None:
    value = {"a": [Decimal(LONG), 1, "é\n", None, True], "b": {"c": Decimal("1E+100")}}
    text = numbers.dumps(value)
    assert text == f'{{"a":[{LONG},1,"é\\n",null,true],"b":{{"c":1E+100}}}}'.encode()
    assert numbers.loads(text) == value


def test_listing_ties_are_broken_by_the_sort_key() -> None:
    spec = DEFAULT_TABLES["opponents"]
    items = [
        {"opponent_id": name, "timestamp": ts}
        for name, ts in [("c", 5), ("a", 5), ("z", 9), ("b", 5), ("y", 1)]
    ]
    assert [i["opponent_id"] for i in listing_order(items, spec, 3)] == ["z", "a", "b"]


def test_dumps_indents_like_pydantic() -> None:
    value = {"a": [1, {"b": "x"}], "c": {}, "d": []}
    exact = {**value, "e": Decimal("0.5")}
    assert numbers.dumps(exact, indent=2) == pydantic_core.to_json(exact, indent=2).replace(
        b'"0.5"', b"0.5"
    )


def test_a_json_lines_snapshot_keeps_every_digit(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    key = '{"owner_id": "o", "opponent_id": "p"}'
    path.write_text(f'{{"table": "opponents", "key": {key}, "data": {{"n": {LONG}, "b": 1e23}}}}\n')

    async def read() -> list[Chunk]:
        return [chunk async for chunk in JsonLinesSource(path).chunks(None)]

    (item,) = asyncio.run(read())[0].items
    message = snapshot_message(item, "jsonl", DEFAULT_TABLES)[1]
    assert f'"n":{LONG},"b":1E+23'.encode() in message


def test_sets_and_binary_are_shown_in_one_documented_form() -> None:
    value = {"s": {"b", "a"}, "n": {Decimal("2.50"), Decimal(1)}, "b": Binary(b"\x00\xff\x01"),
             "bs": frozenset({Binary(b"b"), Binary(b"a")}), "l": [{"x": b"z"}],
             "t": "text"}  # fmt: skip
    assert numbers.dumps(numbers.shown(value)) == (
        b'{"s":["a","b"],"n":[1,2.5],"b":{"$binary":"AP8B"},'
        b'"bs":[{"$binary":"YQ=="},{"$binary":"Yg=="}],"l":[{"x":{"$binary":"eg=="}}],"t":"text"}'
    )
