"""Data values as DynamoDB attributes and back, numbers by the number rule.

Data attribute names starting with `_` (a column `_meta` or `_v`) are stored with one more `_`
(`__meta`), so they never meet the replicator's bookkeeping (`_v`, `_deleted`, ...), which is
exactly the names starting with a single `_`.
"""

import base64
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from connectors.store import Item
from streams.model.numbers import EXACT, plain


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


def value_of(attribute: Mapping[str, Any]) -> Any:
    """An attribute as a plain value: numbers exactly, whatever text DynamoDB gives them (it
    canonicalises: `1E+100` comes back as 101 digits, `1.50` as `1.5`; boto3's deserializer
    refuses more than 38 digits); binary as bytes, sets as sets."""
    ((kind, inner),) = attribute.items()
    read = _READERS.get(kind)
    if read is None:
        raise ValueError(f"unknown DynamoDB attribute type {kind!r}")
    return read(inner)


def _number(text: str) -> Any:
    return plain(Decimal(text))


def _binary(value: bytes | str) -> bytes:
    """boto3 hands binary over decoded; the wire's JSON carries it in base64."""
    return value if isinstance(value, bytes) else base64.b64decode(value)


_READERS: dict[str, Callable[[Any], Any]] = {
    "S": lambda inner: inner,
    "N": _number,
    "BOOL": lambda inner: inner,
    "NULL": lambda inner: None,
    "M": lambda inner: {name: value_of(child) for name, child in inner.items()},
    "L": lambda inner: [value_of(child) for child in inner],
    "B": _binary,
    "SS": set,
    "NS": lambda inner: {_number(member) for member in inner},
    "BS": lambda inner: {_binary(member) for member in inner},
}


def stored_name(name: str) -> str:
    """The attribute name a data attribute is stored under."""
    return f"_{name}" if name[:1] == "_" else name


def data_name(stored: str) -> str | None:
    """The data attribute a stored attribute holds, None for bookkeeping (one leading `_`)."""
    if stored[:1] != "_":
        return stored
    return stored[1:] if stored[:2] == "__" else None


def as_item(raw: Mapping[str, Any]) -> Item:
    """A stored item's key and data attributes as plain values, bookkeeping left out."""
    return {
        name: value_of(value)
        for stored, value in raw.items()
        if (name := data_name(stored)) is not None
    }
