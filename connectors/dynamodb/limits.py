"""What DynamoDB can hold, by its API reference, checked on the item the store is about to write
(bookkeeping included): an item DynamoDB cannot hold is dead-lettered for DynamoDB alone, and
Redis, which can hold it, takes it.

- item size: at most 400 KB (409,600 bytes): attribute names (UTF-8) plus values; a string its
  UTF-8 bytes, a boolean or null 1, a number 1 byte per two significant digits plus 1 (as
  DynamoDB counts it: digit pairs aligned on the exponent, one more for a negative), a list or
  map 3 plus 1 per element (a map's element: its name and value);
- key values: 1 to 2,048 bytes for the partition key, 1 to 1,024 for the sort key;
- numbers: at most 38 significant digits, zero or 1e-130 <= |n| < 1e126;
- nesting: at most 32 levels of lists and maps.
"""

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from streams.model.numbers import EXACT
from streams.model.tables import TableSpec

ITEM_LIMIT = 400 * 1024
PARTITION_KEY_LIMIT = 2048
SORT_KEY_LIMIT = 1024
MAX_DIGITS = 38
MAX_DEPTH = 32


class CannotHoldError(ValueError):
    """Why DynamoDB cannot hold an item (its message names the attribute and the limit)."""


def checked_size(item: Mapping[str, Any], spec: TableSpec) -> int:
    """The size of `item` (DynamoDB JSON, as PutItem sends it) by DynamoDB's rule;
    CannotHoldError naming why DynamoDB would refuse it."""
    _check_keys(item, spec)
    size = item_size(item)
    if size > ITEM_LIMIT:
        raise CannotHoldError(
            f"item is {size:,} bytes by DynamoDB's rule, over its 400 KB ({ITEM_LIMIT:,} bytes)"
        )
    return size


def item_size(item: Mapping[str, Any]) -> int:
    """The item's size by DynamoDB's rule; CannotHoldError for a number or nesting it refuses."""
    size = 0
    for name, value in item.items():  # a plain loop: this runs for every item written
        size += _text_size(name) + _size(value, name, 1)
    return size


def key_problem(key: Mapping[str, str], spec: TableSpec) -> str | None:
    """Why DynamoDB has no item under `key` (its values as text), or None: reads ask nothing
    for a key DynamoDB would refuse to even look up."""
    problem = _size_problem(key[spec.partition_key], spec.partition_key, PARTITION_KEY_LIMIT)
    if problem is None and spec.sort_key:
        problem = _size_problem(key[spec.sort_key], spec.sort_key, SORT_KEY_LIMIT)
    return problem


def partition_problem(partition: str, spec: TableSpec) -> str | None:
    return _size_problem(partition, spec.partition_key, PARTITION_KEY_LIMIT)


def _size_problem(value: str, name: str, limit: int) -> str | None:
    if value and len(value) * 4 <= limit:  # at most 4 bytes a character in UTF-8
        return None
    size = _text_size(value)
    if 1 <= size <= limit:
        return None
    return f"key attribute {name!r} is {size:,} bytes, not 1 to {limit:,}"


def _check_keys(item: Mapping[str, Any], spec: TableSpec) -> None:
    problem = _size_problem(item[spec.partition_key]["S"], spec.partition_key, PARTITION_KEY_LIMIT)
    if problem is None and spec.sort_key:
        problem = _size_problem(item[spec.sort_key]["S"], spec.sort_key, SORT_KEY_LIMIT)
    if problem:
        raise CannotHoldError(problem)


def _text_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _size(value: Mapping[str, Any], name: str, depth: int) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return _text_size(inner)
    if kind == "N":
        return number_size(inner, name)
    if kind in ("L", "M"):
        if depth > MAX_DEPTH:
            raise CannotHoldError(f"attribute {name!r} is nested deeper than {MAX_DEPTH} levels")
        if kind == "L":
            return 3 + sum(1 + _size(child, name, depth + 1) for child in inner)
        return 3 + sum(
            1 + _text_size(key) + _size(child, name, depth + 1) for key, child in inner.items()
        )
    return 1  # BOOL, NULL: the store writes no binary nor sets


def number_size(text: str, name: str = "") -> int:
    """A number's bytes as DynamoDB counts them; CannotHoldError beyond its digits or range."""
    number = Decimal(text)
    if not number.is_finite():
        raise CannotHoldError(f"attribute {name!r}: {text} is not a finite number")
    if not number:
        return 1
    sign, digits, _ = number.normalize(EXACT).as_tuple()
    exponent = number.adjusted()
    if len(digits) > MAX_DIGITS:
        raise CannotHoldError(
            f"attribute {name!r}: {text} has {len(digits)} significant digits, over {MAX_DIGITS}"
        )
    if not -130 <= exponent <= 125:
        raise CannotHoldError(f"attribute {name!r}: {text} is outside DynamoDB's 1e-130..1e126")
    pairs = math.ceil(len(digits) / 2) + (len(digits) % 2 == 0 and exponent % 2 == 0)
    return 1 + pairs + sign
