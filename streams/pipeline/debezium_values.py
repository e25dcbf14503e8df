"""A Debezium row's values, decoded by the Connect schema the record carries.

Kafka Connect's logical types (`Decimal`, dates and times under each `time.precision.mode`)
and Debezium's own (`MicroTimestamp`, `Bits`, `Point`...) become the one encoding of
`streams.model.pg_values`, so what the stores hold does not depend on the connector's
settings. A value that cannot be decoded exactly (an unconstrained numeric under
`decimal.handling.mode=precise`, an interval in microseconds) is refused with the setting that
sends it exactly, and so is a record without a schema.
"""

import base64
from collections.abc import Callable, Mapping
from typing import Any

from streams.model import pg_values
from streams.model.errors import InvalidEventError

Decode = Callable[[Any], Any]
Fields = Mapping[str, Mapping[str, Any]]  # a row's column -> its Connect field schema

# Debezium's markers for PostgreSQL's infinities: the PostgreSQL JDBC driver's infinity
# instants as days (a snapshot read; a streamed change wraps PostgreSQL's own int32) and micros.
INFINITE_DAYS = {-622_191_234: "infinity", -2_147_472_692: "infinity",
                 -625_821_272: "-infinity", -2_147_472_691: "-infinity"}  # fmt: skip
INFINITE_MICROS = {9_223_372_036_825_200_000: "infinity", -9_223_372_036_832_400_000: "-infinity"}
NO_SCHEMA = (
    "the record has no schema, so its dates, times and decimals cannot be decoded: set"
    " value.converter.schemas.enable=true and key.converter.schemas.enable=true on the"
    " connector (Kafka Connect's default)"
)


PLAIN = frozenset({"int8", "int16", "int32", "int64", "string", "boolean", "bytes"})


def UNBUILT(value: Any) -> Any:  # noqa: N802 -- a marker, compared by identity
    """A field schema's decoder that could not be built (see `column_decoder`)."""
    raise AssertionError("never called")


class UndecodableError(ValueError):
    """A value whose exact PostgreSQL value the record does not carry; the message says which
    connector setting sends it exactly."""


def row_fields(schema: Any, part: str) -> Fields | None:
    """The field schemas of the envelope's `part` (`after`, `before`) or of a key struct;
    None when the record carries no schema."""
    if type(schema) is not dict:
        return None
    struct: Mapping[str, Any] = schema
    if part:
        found = [f for f in _fields(schema, "the envelope") if f.get("field") == part]
        struct = found[0] if found else {}
    row = f"'{part}'" if part else "the key"
    return {f["field"]: f for f in _fields(struct, row) if type(f.get("field")) is str}


def _fields(struct: Mapping[str, Any], what: str) -> list[Mapping[str, Any]]:
    fields = struct.get("fields") or []
    if type(fields) is not list or any(type(f) is not dict for f in fields):
        raise InvalidEventError("schema", f"the schema of {what}: 'fields' must be objects")
    return fields


def decode_column(column: str, value: Any, fields: Fields | None) -> Any:
    """`value` of `column` in the one encoding; InvalidEventError when it cannot be."""
    schema = fields.get(column) if fields is not None else None
    if schema is None:
        raise missing_column(column, fields)
    if value is None:
        return value
    decode = column_decoder(schema)
    return value if decode is None else decode_value(column, value, schema, decode)


def missing_column(column: str, fields: Fields | None) -> InvalidEventError:
    """Why a column whose field schema the record lacks cannot be decoded."""
    if fields is None:
        return InvalidEventError("schema", NO_SCHEMA)
    return InvalidEventError("schema", f"column {column!r} is not in the record's schema")


def column_decoder(schema: Mapping[str, Any]) -> Decode | None:
    """`decoder`, once per field schema; a field schema no decoder can be built from gets
    `UNBUILT`, and raises when a value needs it (a null value needs none)."""
    try:
        if "name" not in schema and schema.get("type") in PLAIN:
            return None  # the common case
        return _built(schema)
    except Exception:  # noqa: BLE001 -- raised again, where a value needs the decoder
        return UNBUILT


def decode_value(column: str, value: Any, schema: Mapping[str, Any], decode: Decode) -> Any:
    """A non-null `value` of `column`, decoded by its field schema's `decode`."""
    if decode is UNBUILT:
        try:
            decode = _built(schema)  # type: ignore[assignment]  # raises, as the first time
        except Exception as exc:  # a field schema Connect never sends: the record is bad
            raise InvalidEventError(
                "schema", f"column {column!r}: its field schema cannot be read: {exc!r}"
            ) from exc
    try:
        return decode(value)
    except UndecodableError as exc:
        raise InvalidEventError("undecodable", f"column {column!r}: {exc}") from exc
    except (ValueError, TypeError, KeyError, AttributeError, ArithmeticError) as exc:
        kind = schema.get("name") or schema.get("type")
        raise InvalidEventError(
            "bad_data", f"column {column!r}: {value!r} is not a value of type {kind}: {exc}"
        ) from exc


def _built(schema: Mapping[str, Any]) -> Decode | None:
    kind = schema.get("type")
    if type(kind) is not str:
        raise ValueError(f"its type {kind!r} is not the name of one")
    return decoder(schema)


def decoder(schema: Mapping[str, Any]) -> Decode | None:
    """How a field's value becomes the one encoding; None when it already is."""
    kind, name = schema.get("type"), schema.get("name")
    if kind == "array":
        inner = decoder(schema.get("items") or {})
        return None if inner is None else _each(inner)
    if name in NAMED:
        return NAMED[name](schema)
    if kind in ("float", "double"):
        single = kind == "float"
        return lambda v: pg_values.float_value(v, single)
    if kind == "map":  # hstore.handling.mode=map
        return _hstore
    return None


def _each(inner: Decode) -> Decode:
    return lambda values: [None if v is None else inner(v) for v in values]


def _decimal(schema: Mapping[str, Any]) -> Decode:
    scale = int((schema.get("parameters") or {})["scale"])
    if not -1000 <= scale <= 1000:
        raise ValueError(f"scale {scale} is outside PostgreSQL's -1000..1000")
    return lambda v: pg_values.numeric_text(_unscaled(v), scale)


def _hstore(pairs: Any) -> str:
    if type(pairs) is not dict or not all(
        type(key) is str and (value is None or type(value) is str) for key, value in pairs.items()
    ):
        raise ValueError("an hstore maps texts to texts or nulls")
    return pg_values.hstore_text(pairs)


def _unscaled(text: str) -> int:
    return int.from_bytes(base64.b64decode(text, validate=True), "big", signed=True)


def _refused(message: str) -> Callable[[Mapping[str, Any]], Decode]:
    """A logical type the connector's settings send inexactly: every value is refused with
    `message`, which names the setting that sends it exactly."""

    def decoder(_: Mapping[str, Any]) -> Decode:
        def refuse(value: Any) -> Any:
            raise UndecodableError(message)

        return refuse

    return decoder


_variable_decimal = _refused(
    "decimal.handling.mode=precise (Debezium's default, in force too when the setting is"
    " misspelt) sends an unconstrained numeric without its trailing zeros (1.50 as 1.5)"
    " and NaN or Infinity as null: set decimal.handling.mode=string"
)
_duration = _refused(
    "interval.handling.mode=numeric (Debezium's default, in force too when the setting is"
    " misspelt) sends an interval as approximate microseconds (a month as 30.4375"
    " days): set interval.handling.mode=string"
)


def _date(_: Mapping[str, Any]) -> Decode:
    def decode(days: Any) -> str:
        if type(days) is not int:
            raise TypeError("a day count is an integer")
        if days in INFINITE_DAYS:
            return INFINITE_DAYS[days]
        if not pg_values.MIN_DAY <= days <= pg_values.MAX_DAY:
            raise ValueError("outside PostgreSQL's dates")
        return pg_values.date_of_days(days)

    return decode


def _time(unit: int) -> Callable[[Mapping[str, Any]], Decode]:
    def build(_: Mapping[str, Any]) -> Decode:
        def decode(value: Any) -> str:
            micros = _micros(value, unit)
            if not 0 <= micros <= pg_values.MICROS_PER_DAY:
                raise ValueError("outside a day")
            return pg_values.time_of_micros(micros)

        return decode

    return build


def _timestamp(unit: int) -> Callable[[Mapping[str, Any]], Decode]:
    def build(_: Mapping[str, Any]) -> Decode:
        def decode(value: Any) -> str:
            micros = _micros(value, unit)
            if micros in INFINITE_MICROS:
                return INFINITE_MICROS[micros]
            if not pg_values.MIN_MICROS <= micros <= pg_values.MAX_MICROS:
                raise ValueError("outside PostgreSQL's timestamps")
            return pg_values.timestamp_of_micros(micros)

        return decode

    return build


def _micros(value: Any, unit: int) -> int:
    """Microseconds from a count of `unit` (1000: milli, 1: micro, -1000: nanoseconds)."""
    if type(value) is not int:
        raise TypeError("an integer is required")
    if unit > 0:
        return value * unit
    micros, rest = divmod(value, -unit)
    if rest:
        raise ValueError("PostgreSQL keeps microseconds")
    return micros


def _iso(suffix_free: Callable[[str], str]) -> Callable[[Mapping[str, Any]], Decode]:
    """`time.precision.mode=isostring`: local dates and times with a `Z` they do not mean."""

    def build(_: Mapping[str, Any]) -> Decode:
        def decode(text: Any) -> str:
            if type(text) is not str or not text.endswith("Z"):
                raise ValueError("an ISO 8601 text ending in Z is required")
            return suffix_free(text[:-1])

        return decode

    return build


def _iso_date(text: str) -> str:
    year = int(text.rsplit("-", 2)[0])
    if not -4713 <= year <= 5_874_897:
        raise ValueError("outside PostgreSQL's dates (Debezium's isostring mode sends an"
                         " infinite date so: use time.precision.mode=adaptive)")  # fmt: skip
    return text


def _point(_: Mapping[str, Any]) -> Decode:
    return lambda v: {**v, "x": pg_values.float_value(v["x"]), "y": pg_values.float_value(v["y"])}


def _same(text: str) -> str:
    return text


NAMED: dict[str, Callable[[Mapping[str, Any]], Decode]] = {
    "org.apache.kafka.connect.data.Decimal": _decimal,
    "io.debezium.data.VariableScaleDecimal": _variable_decimal,
    "io.debezium.time.MicroDuration": _duration,
    "io.debezium.time.Date": _date,
    "org.apache.kafka.connect.data.Date": _date,
    "io.debezium.time.Time": _time(1000),
    "org.apache.kafka.connect.data.Time": _time(1000),
    "io.debezium.time.MicroTime": _time(1),
    "io.debezium.time.NanoTime": _time(-1000),
    "io.debezium.time.Timestamp": _timestamp(1000),
    "org.apache.kafka.connect.data.Timestamp": _timestamp(1000),
    "io.debezium.time.MicroTimestamp": _timestamp(1),
    "io.debezium.time.NanoTimestamp": _timestamp(-1000),
    "io.debezium.time.IsoDate": _iso(_iso_date),
    "io.debezium.time.IsoTime": _iso(_same),
    "io.debezium.time.IsoTimestamp": _iso(_same),
    "io.debezium.data.geometry.Point": _point,
}
