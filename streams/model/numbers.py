"""The number rule: a number is exactly its decimal text, from the wire to both stores and back.

JSON numbers with a fraction or an exponent are read as `Decimal`, never as a float (a double
turns `1e23` into 99999999999999991611392 and `0.1234567890123456789` into 0.12345678901234568).
A Python float handed to the publisher means its shortest repr (`1e23` is 10**23). Read back,
an integral number is an `int` and any other a normalized `Decimal`, so both stores give the
same value for the same item.
"""

import base64
import json
from collections.abc import Callable
from decimal import Context, Decimal
from typing import Any

import jiter
import pydantic_core
from boto3.dynamodb.types import Binary

# Wide enough for every number DynamoDB holds (38 digits) and more, so normalizing never rounds.
EXACT = Context(prec=200)
_json_string = json.encoder.encode_basestring


def loads(raw: bytes | str) -> Any:
    """JSON with every non-integer number as a Decimal. jiter is the parser inside pydantic
    (so it reads a message exactly as the worker's first parse did), with a decimal mode, and
    about three times faster than the standard library's json here."""
    return jiter.from_json(raw.encode() if isinstance(raw, str) else raw, float_mode="decimal")


def dumps(
    value: Any, indent: int | None = None, fallback: Callable[[Any], Any] | None = None
) -> bytes:
    """JSON text with each number written exactly (Decimals as numbers, not strings);
    `fallback` shows a value JSON has no type for."""
    if not holds(value, Decimal):  # the common case: pydantic's encoder is several times faster
        return pydantic_core.to_json(value, indent=indent, fallback=fallback)
    return _text(value, indent, 1, fallback).encode()


def holds(value: Any, kind: type) -> bool:
    """Whether `kind` appears anywhere in a JSON-like value (on the worker's hot path)."""
    found = type(value)
    if found is kind:
        return True
    if found is dict:
        value = value.values()
    elif found is not list:
        return False
    for child in value:
        found = type(child)
        if found is kind or ((found is dict or found is list) and holds(child, kind)):
            return True
    return False


def _text(
    value: Any, indent: int | None, depth: int, fallback: Callable[[Any], Any] | None = None
) -> str:
    kind = type(value)
    if kind is str:
        return str(_json_string(value))
    if kind is Decimal:
        return str(value)  # finite: events refuse NaN and infinities
    if kind is dict:
        colon = ": " if indent is not None else ":"
        parts = [
            f"{_json_string(k)}{colon}{_text(v, indent, depth + 1, fallback)}"
            for k, v in value.items()
        ]
        return _joined("{", parts, "}", indent, depth)
    if kind is list:
        return _joined(
            "[", [_text(v, indent, depth + 1, fallback) for v in value], "]", indent, depth
        )
    return pydantic_core.to_json(value, fallback=fallback).decode()  # int, float, bool, None...


def _joined(start: str, parts: list[str], end: str, indent: int | None, depth: int) -> str:
    if indent is None or not parts:
        return start + ",".join(parts) + end
    inner, outer = "\n" + " " * indent * depth, "\n" + " " * indent * (depth - 1)
    return start + inner + ("," + inner).join(parts) + outer + end


def of_score(score: float) -> Any:
    """A Redis sorted-set score as the number rule reads a double: its shortest repr (1e23
    is 10**23)."""
    if score.is_integer() and abs(score) <= 2**53:
        return int(score)  # the common case, and the same number
    return plain(score)


def plain(value: Any) -> Any:
    """A number as `int` when integral, else a normalized Decimal (floats by their shortest
    repr); containers recursively; the rest unchanged. What both stores print for an item."""
    kind = type(value)
    if kind is float:
        return plain(Decimal(repr(value)))
    if kind is Decimal:
        normal = value.normalize(EXACT)
        return int(normal) if normal.as_tuple().exponent >= 0 else normal
    if kind is dict:
        return {k: plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [plain(v) for v in value]
    return value


def shown(value: Any) -> Any:
    """A stored value as the CLI prints it (`get`, `list`, `verify --json`): JSON's own types
    as `plain` gives them, and DynamoDB's types that JSON lacks in one documented form: a
    binary as `{"$binary": "<base64>"}`, a set (SS, NS, BS) as the sorted list of its members."""
    kind = type(value)
    if kind is dict:
        return {k: shown(v) for k, v in value.items()}
    if kind is list:
        return [shown(v) for v in value]
    if kind is set or kind is frozenset:
        return [shown(plain(m)) for m in sorted(value, key=_member_order)]
    if isinstance(value, Binary | bytes | bytearray):
        return {"$binary": base64.b64encode(_bytes(value)).decode()}
    return value


def _member_order(member: Any) -> Any:
    return _bytes(member) if isinstance(member, Binary) else member


def _bytes(value: Binary | bytes | bytearray) -> bytes:
    if isinstance(value, Binary):
        return bytes(value)  # type: ignore[call-overload]  # its stub lacks __bytes__
    return bytes(value)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """A count and its noun as a reader says it: "1 partition", "3 partitions", "1,200 items"."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
