"""The change event (wire format v1): validation, identity and version order."""

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NamedTuple

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from streams.errors import InvalidEventError
from streams.tables import TableSpec

MAX_TS = 2**53 - 1  # microseconds, year 2255; exact in a Lua number and a JSON double
TS_DIGITS = 16
DYNAMODB_ITEM_LIMIT = 400 * 1024
MAX_KEY_BYTES = 1024
MAX_NUMBER_DIGITS = 38  # DynamoDB's number precision

Origin = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:/@+\-]{1,128}$")]
EventId = Annotated[str, Field(pattern=r"^[!-~]{1,128}$")]


class Version(NamedTuple):
    """Total order of writes: the greater version wins; an equal one is a redelivery."""

    ts: int
    origin: str
    event_id: str

    def token(self) -> str:
        """A string whose byte order is the version order, for stores that compare strings.

        `ts` is zero-padded to a fixed width and `origin` only uses characters above the space
        separator, so a shorter origin that prefixes a longer one still sorts first.
        """
        return f"{self.ts:0{TS_DIGITS}d} {self.origin} {self.event_id}"

    @classmethod
    def from_token(cls, token: str) -> "Version":
        ts, origin, event_id = token.split(" ", 2)
        return cls(int(ts), origin, event_id)


class ItemId(NamedTuple):
    """An item's identity: its table and key values (sort is "" when the table has none)."""

    table: str
    partition: str
    sort: str

    def kafka_key(self) -> bytes:
        """The message key: one item's events always land in one partition, in order."""
        parts = (
            [self.table, self.partition, self.sort] if self.sort else [self.table, self.partition]
        )
        return pydantic_core.to_json(parts)


class ChangeEvent(BaseModel):
    """One write of one item, as published on the changes topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: Annotated[str, Field(min_length=1, max_length=255, description="a declared table")]
    op: Literal["upsert", "delete"] = Field(description="upsert replaces the whole item")
    key: dict[str, str] = Field(description="exactly the table's key attributes, non-empty")
    data: dict[str, Any] | None = Field(
        default=None, description="the item's attributes (upsert); ignored for a delete"
    )
    ts: Annotated[StrictInt, Field(ge=0, le=MAX_TS)] = Field(
        description="the writer's version timestamp, microseconds since the epoch"
    )
    origin: Origin = Field(description="the writer; breaks ties on ts")
    event_id: EventId = Field(description="unique per event; breaks ties on ts and origin")

    @property
    def version(self) -> Version:
        return Version(self.ts, self.origin, self.event_id)

    def item_id(self, spec: TableSpec) -> ItemId:
        sort = self.key[spec.sort_key] if spec.sort_key else ""
        return ItemId(self.table, self.key[spec.partition_key], sort)

    def to_json(self) -> bytes:
        return pydantic_core.to_json(self.model_dump(exclude_none=True))


def decode_event(raw: bytes | None, tables: Mapping[str, TableSpec]) -> ChangeEvent:
    """Parse and check one message; raise `InvalidEventError` naming why it can never apply."""
    if raw is None:
        raise InvalidEventError("not_json", "message has no value")
    try:
        event = ChangeEvent.model_validate_json(raw)
    except ValidationError as exc:
        raise _schema_error(exc) from exc
    check_against_table(event, tables)
    return event


def build_event(fields: Mapping[str, Any], tables: Mapping[str, TableSpec]) -> ChangeEvent:
    """An event from Python values, checked like a decoded message."""
    try:
        event = ChangeEvent.model_validate(fields)
    except ValidationError as exc:
        raise _schema_error(exc) from exc
    check_against_table(event, tables)
    return event


def check_against_table(event: ChangeEvent, tables: Mapping[str, TableSpec]) -> None:
    spec = tables.get(event.table)
    if spec is None:
        raise InvalidEventError("unknown_table", f"table {event.table!r} is not declared")
    _check_key(event.key, spec)
    if event.op == "upsert":
        if event.data is None:
            raise InvalidEventError("schema", "an upsert needs 'data'")
        _check_data(event.data, spec)
        _check_size(event)


def _schema_error(exc: ValidationError) -> InvalidEventError:
    first = exc.errors()[0]
    if first["type"] in {"json_invalid", "json_type"}:
        return InvalidEventError("not_json", f"not a JSON object: {first['msg']}")
    where = ".".join(str(part) for part in first["loc"]) or "event"
    return InvalidEventError("schema", f"{where}: {first['msg']}")


def _check_key(key: dict[str, str], spec: TableSpec) -> None:
    expected = set(spec.key_attributes)
    if set(key) != expected:
        raise InvalidEventError(
            "bad_key", f"key must have exactly {sorted(expected)}, got {sorted(key)}"
        )
    for name, value in key.items():
        if not value:
            raise InvalidEventError("bad_key", f"key attribute {name!r} is empty")
        if len(value.encode()) > MAX_KEY_BYTES:
            raise InvalidEventError(
                "bad_key", f"key attribute {name!r} is over {MAX_KEY_BYTES} bytes"
            )


def _check_data(data: dict[str, Any], spec: TableSpec) -> None:
    for name in data:
        if not name or name.startswith("_") or name in spec.key_attributes:
            raise InvalidEventError(
                "bad_data", f"data attribute {name!r} is empty, reserved or a key"
            )
    index = spec.index_attribute
    if index and index in data and not _is_number(data[index]):
        raise InvalidEventError("bad_data", f"index attribute {index!r} must be a number")
    _check_numbers(data)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_numbers(value: object, depth: int = 0) -> None:
    """DynamoDB keeps 38 significant digits and 32 levels of nesting; refuse more up front."""
    if depth > 31:
        raise InvalidEventError("bad_data", "data is nested deeper than 32 levels")
    if isinstance(value, dict):
        for child in value.values():
            _check_numbers(child, depth + 1)
    elif isinstance(value, list):
        for child in value:
            _check_numbers(child, depth + 1)
    elif isinstance(value, float) and not _fits_dynamodb(value):
        raise InvalidEventError("bad_data", f"number {value!r} is not finite or out of range")
    elif _is_number(value) and isinstance(value, int) and len(str(abs(value))) > MAX_NUMBER_DIGITS:
        raise InvalidEventError("bad_data", f"number has more than {MAX_NUMBER_DIGITS} digits")


def _fits_dynamodb(value: float) -> bool:
    # JSON parsers accept NaN, Infinity and 1e400; DynamoDB keeps 1e-130 < |n| < 1e126.
    return math.isfinite(value) and (value == 0 or 1e-130 <= abs(value) < 1e126)


def _check_size(event: ChangeEvent) -> None:
    # JSON text overestimates DynamoDB's item size a little: a safe bound.
    size = len(pydantic_core.to_json(event.data)) + sum(
        len(k.encode()) + len(v.encode()) for k, v in event.key.items()
    )
    if size > DYNAMODB_ITEM_LIMIT:
        raise InvalidEventError("too_large", f"item is {size} bytes, over DynamoDB's 400 KB limit")
