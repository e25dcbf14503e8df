"""The change event (wire format v1): validation, identity and version order."""

import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, NamedTuple, TypeVar

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from streams.model import numbers
from streams.model.errors import InvalidEventError
from streams.model.expiry import ExpirySpec, expiry_problem, lifetime_problem
from streams.model.tables import TableSpec

MAX_TS = 2**53 - 1  # microseconds, year 2255; exact in a Lua number and a JSON double
TS_DIGITS = 16
SNAPSHOT_TS = 0  # the version of an item a snapshot read without knowing its version
SNAPSHOT_ORIGIN = "snapshot:"

ORIGIN_PATTERN = r"^[A-Za-z0-9._:/@+\-]{1,128}$"
EVENT_ID_PATTERN = r"^[!-~]{1,128}$"
Origin = Annotated[str, Field(pattern=ORIGIN_PATTERN)]
EventId = Annotated[str, Field(pattern=EVENT_ID_PATTERN)]
_TOKEN = re.compile(r"([0-9]+) (\S+) (\S+)")


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
        """The version a token stands for; ValueError naming what is wrong with one that no
        event could have written (a store may hold anything written behind its back)."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise ValueError(f"not a version token ('<ts> <origin> <event id>'): {token[:80]!r}")
        version = cls(int(match[1]), match[2], match[3])
        if version.ts > MAX_TS:
            raise ValueError(f"version ts {version.ts} is above 2^53 - 1")
        if not re.match(ORIGIN_PATTERN, version.origin):
            raise ValueError(f"version origin {version.origin[:80]!r} is not a valid origin")
        if not re.match(EVENT_ID_PATTERN, version.event_id):
            raise ValueError("version event id is not 1 to 128 printable ASCII characters")
        if version.token() != token:
            raise ValueError(f"version ts of {token} is not {TS_DIGITS} digits")
        return version

    @property
    def fills_only(self) -> bool:
        """A snapshot's lowest version: it may create an item no store holds, never change one
        (not even one written before the replicator, which has no version to compare)."""
        return self.ts == SNAPSHOT_TS and self.origin.startswith(SNAPSHOT_ORIGIN)


class ItemId(NamedTuple):
    """An item's identity: its table and key values (sort is "" when the table has none)."""

    table: str
    partition: str
    sort: str

    @classmethod
    def of(cls, table: str, key: Mapping[str, Any], spec: TableSpec) -> "ItemId":
        """The identity of the item `key` names in `table` (declared by `spec`)."""
        return cls(table, key[spec.partition_key], key[spec.sort_key] if spec.sort_key else "")

    def key(self, spec: TableSpec) -> dict[str, str]:
        """The key attributes back, by name."""
        key = {spec.partition_key: self.partition}
        if spec.sort_key:
            key[spec.sort_key] = self.sort
        return key

    def kafka_key(self) -> bytes:
        """The message key: one item's events always land in one partition, in order."""
        parts = (
            [self.table, self.partition, self.sort] if self.sort else [self.table, self.partition]
        )
        return pydantic_core.to_json(parts)


Computed = TypeVar("Computed")


class _once(Generic[Computed]):  # noqa: N801 -- used as a decorator, like cached_property
    """`functools.cached_property` without its lock: Python 3.11 takes one on every first read,
    which made an event's version cost 1.0 us instead of 0.4 (about 5% of the worker's CPU)."""

    def __init__(self, compute: Callable[[Any], Computed]) -> None:
        self.compute = compute
        self.name = compute.__name__

    def __get__(self, event: Any, owner: type | None = None) -> Computed:
        # Stored in the instance's dict, which Python reads before this (non-data) descriptor.
        value = event.__dict__[self.name] = self.compute(event)
        return value


class ChangeEvent(BaseModel):
    """One write of one item, as published on the changes topic."""

    model_config = ConfigDict(frozen=True, extra="forbid", ignored_types=(_once,))

    table: Annotated[str, Field(min_length=1, max_length=255, description="a declared table")]
    op: Literal["upsert", "delete"] = Field(
        description="upsert replaces the whole item (but its unchanged attributes)"
    )
    key: dict[str, str] = Field(description="exactly the table's key attributes, as text")
    data: dict[str, Any] | None = Field(
        default=None, description="the item's attributes (upsert); ignored for a delete"
    )
    unchanged: list[str] | None = Field(
        default=None,
        description="a debezium table's upsert only: data attributes it does not carry (values"
        " the source did not send); each store keeps the value it holds for them",
    )
    ts: Annotated[StrictInt, Field(ge=0, le=MAX_TS)] = Field(
        description="the writer's version timestamp, microseconds since the epoch"
    )
    origin: Origin = Field(description="the writer; breaks ties on ts")
    event_id: EventId = Field(description="unique per event; breaks ties on ts and origin")

    @_once  # compared while coalescing, then written: build it once
    def version(self) -> Version:
        return Version(self.ts, self.origin, self.event_id)

    def item_id(self, spec: TableSpec) -> ItemId:
        return ItemId.of(self.table, self.key, spec)

    def to_json(self) -> bytes:
        return numbers.dumps(self.model_dump(exclude_none=True))


def decode_event(raw: bytes | None, tables: Mapping[str, TableSpec]) -> ChangeEvent:
    """Parse and check one message; raise `InvalidEventError` naming why it can never apply."""
    if raw is None:
        raise InvalidEventError("not_json", "message has no value")
    return _checked(_validate_exact, raw, tables)


def _validate_exact(raw: bytes) -> ChangeEvent:
    """Pydantic's JSON parser is the fast path, but it reads a fraction or an exponent as a
    float: data holding one is parsed again with exact numbers (the number rule). The rest
    of the event is already validated, and both parsers read the same JSON the same way."""
    event = ChangeEvent.model_validate_json(raw)
    if not (event.data and numbers.holds(event.data, float)):
        return event
    try:
        exact = numbers.loads(raw)["data"]
    except ValueError as exc:  # the same parser as pydantic's: should not happen, never crash
        raise InvalidEventError("bad_data", f"data: {exc}") from exc
    return event.model_copy(update={"data": exact})


def build_event(fields: Mapping[str, Any], tables: Mapping[str, TableSpec]) -> ChangeEvent:
    """An event from Python values, checked like a decoded message."""
    return _checked(ChangeEvent.model_validate, fields, tables)


def _checked(
    validate: Callable[[Any], ChangeEvent], raw: Any, tables: Mapping[str, TableSpec]
) -> ChangeEvent:
    try:
        event = validate(raw)
    except ValidationError as exc:
        raise _schema_error(exc) from exc
    check_against_table(event, tables)
    return event


def check_against_table(event: ChangeEvent, tables: Mapping[str, TableSpec]) -> None:
    spec = check_item(
        event.table, event.op, event.key, event.data, tables, unchanged=event.unchanged
    )
    lifetime = spec.expiry and spec.expiry.lifetime_seconds
    if lifetime and event.op == "upsert" and not event.version.fills_only:
        problem = lifetime_problem(event.ts)  # a snapshot's lowest version: refused apart
        if problem:
            raise InvalidEventError("bad_data", problem)


def check_item(
    table: str,
    op: str,
    key: dict[str, str],
    data: dict[str, Any] | None,
    tables: Mapping[str, TableSpec],
    *,
    unchanged: list[str] | None = None,
) -> TableSpec:
    """What the schema cannot say: the table is declared, the key is its key, the data is
    data every store reads alike (finite numbers, a listing index a Redis score gives back).
    What DynamoDB alone cannot hold (its sizes, digits, range) is its store's to refuse, so
    that Redis still takes it (connectors/dynamodb/limits.py). Returns the table's
    declaration."""
    spec = tables.get(table)
    if spec is None:
        raise InvalidEventError("unknown_table", f"table {table!r} is not declared")
    _check_key(key, spec)
    if op == "upsert":
        if type(data) is not dict:
            raise InvalidEventError("schema", "an upsert needs 'data', an object")
        _check_data(data, spec)
        if unchanged is not None:
            _check_unchanged(unchanged, data, spec)
        if spec.redis.layout != "cdc":  # the default layout holds any data
            # A partial upsert fits as the whole row would: its unchanged attributes count.
            _check_layout(table, data | dict.fromkeys(unchanged or (), ""), spec)
        if spec.expiry is not None and spec.expiry.attribute in data:
            _check_expiry(spec.expiry, data)
    elif unchanged is not None:
        raise InvalidEventError("schema", "'unchanged' is for an upsert")
    return spec


def _check_unchanged(unchanged: list[str], data: dict[str, Any], spec: TableSpec) -> None:
    if spec.format != "debezium":
        raise InvalidEventError(
            "schema", "'unchanged' is for a debezium table's rows (values the source did not send)"
        )
    for name in unchanged:
        if not name or name in spec.key_attributes or name in data:
            raise InvalidEventError(
                "bad_data", f"unchanged attribute {name!r} is empty, a key or in 'data'"
            )
    if len(set(unchanged)) != len(unchanged):
        raise InvalidEventError("bad_data", "unchanged attributes are named twice")


def _check_layout(table: str, data: dict[str, Any], spec: TableSpec) -> None:
    problem = spec.redis.cannot_hold(table, data, spec.index_attribute)
    if problem:
        raise InvalidEventError("bad_data", f"redis: {problem}")


def _check_expiry(expiry: ExpirySpec, data: dict[str, Any]) -> None:
    problem = expiry_problem(expiry, data)
    if problem:
        raise InvalidEventError("bad_data", problem)


def _schema_error(exc: ValidationError) -> InvalidEventError:
    first = exc.errors()[0]
    if first["type"] in {"json_invalid", "json_type"}:
        return InvalidEventError("not_json", f"not a JSON object: {first['msg']}")
    where = ".".join(str(part) for part in first["loc"]) or "event"
    return InvalidEventError("schema", f"{where}: {first['msg']}")


def _check_key(key: dict[str, str], spec: TableSpec) -> None:
    if key.keys() != spec.key_set:
        expected = sorted(spec.key_attributes)
        raise InvalidEventError("bad_key", f"key must have exactly {expected}, got {sorted(key)}")
    for name, value in key.items():
        if type(value) is not str:
            raise InvalidEventError("bad_key", f"key attribute {name!r} must be a string")


def _check_data(data: dict[str, Any], spec: TableSpec) -> None:
    for name, value in data.items():
        if not name or name in spec.key_attributes:
            raise InvalidEventError("bad_data", f"data attribute {name!r} is empty or a key")
        if type(value) is not str:  # strings, the common case, need no more checks
            _check_finite(value)
    index = spec.index_attribute
    if index and index in data:
        _check_index(index, data[index])


def _check_index(name: str, value: object) -> None:
    """Redis scores are doubles: an index value must come back unchanged from one (its
    double's shortest repr is the value), or the two stores could list in different orders."""
    kind = type(value)
    if kind not in (int, float, Decimal):
        raise InvalidEventError("bad_data", f"index attribute {name!r} must be a number")
    if kind is float or (kind is int and -_EXACT_INT <= value <= _EXACT_INT):  # type: ignore[operator]
        return
    double = float(value)  # type: ignore[arg-type]
    if Decimal(repr(double)) != value:
        raise InvalidEventError(
            "bad_data",
            f"index attribute {name!r}: {value} would come back from a double (a Redis score) "
            f"as {double!r}",
        )


def _check_finite(value: object) -> None:
    """JSON parsers accept NaN, Infinity and 1e400 (a float's infinity): no store can hold
    them as the number rule says (a number is its exact decimal text)."""
    kind = type(value)
    if kind is dict:
        for child in value.values():  # type: ignore[attr-defined]
            _check_finite(child)
    elif kind is list:
        for child in value:  # type: ignore[attr-defined]
            _check_finite(child)
    elif (kind is float and not math.isfinite(value)) or (  # type: ignore[arg-type]
        kind is Decimal and not value.is_finite()  # type: ignore[attr-defined]
    ):
        raise InvalidEventError("bad_data", f"number {value} is not finite")


_EXACT_INT = 2**53  # up to it, every int is a double
