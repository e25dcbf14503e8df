"""Data values as DynamoDB attributes and back, numbers by the number rule."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from connectors.sink import Item
from streams.model.numbers import EXACT, plain

_deserialize = TypeDeserializer().deserialize


def attribute(value: Any) -> dict[str, Any]:
    """A data value as a DynamoDB attribute, numbers exactly as the number rule reads them
    (boto3's serializer refuses 10**100, whose 101 digits are one significant digit)."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is bool:
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if kind is dict:
        return {"M": {k: attribute(v) for k, v in value.items()}}
    if kind is list:
        return {"L": [attribute(v) for v in value]}
    return {"N": _number_text(value)}


def _number_text(value: int | float | Decimal) -> str:
    if type(value) is float:
        return repr(value)  # its shortest repr, the number it means
    if type(value) is int and abs(value) < 10**38:
        return str(value)
    return str(Decimal(value).normalize(EXACT))


def as_item(raw: Mapping[str, Any]) -> Item:
    """A stored item's key and data attributes as plain values, bookkeeping (`_...`) left out."""
    return {
        name: plain(_deserialize(value)) for name, value in raw.items() if not name.startswith("_")
    }
