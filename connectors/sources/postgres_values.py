"""PostgreSQL's text of each value, turned into the one encoding the worker stores
(`streams.model.pg_values`): what the Debezium connector sends, decoded.

The session reads in UTC with ISO dates, ISO 8601 intervals and shortest floats (`SESSION`),
so the text does not depend on the server's or the role's settings. `Column.expression` is what
the query selects for a column (arrays as a JSON array of their elements' text); `Column.read`
turns that text into the stored value. Columns of a type Debezium 3.6.1 leaves out of its
records (`OMITTED`) are left out here too.
"""

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from psycopg import sql

from streams.model import pg_values

SESSION = ("SET TIME ZONE 'UTC'; SET datestyle = 'ISO'; SET intervalstyle = 'iso_8601';"
           " SET extra_float_digits = 1; SET bytea_output = 'hex'")  # fmt: skip
# Types whose columns Debezium leaves out of its records (as an array's element: `[]`).
OMITTED = frozenset({
    "tsquery", "pg_lsn", "box", "line", "circle", "polygon", "path", "lseg", "jsonpath",
    "xid8", "int4multirange", "int8multirange", "nummultirange", "datemultirange",
    "tsmultirange", "tstzmultirange", "point[]", "varbit[]", "xml[]", "interval[]", "money[]",
})  # fmt: skip
NULL_ARRAYS = frozenset({"bit"})  # bit(n)[]: Debezium sends null
TEXT_TYPES = frozenset({
    "text", "varchar", "bpchar", "name", "char", "uuid", "json", "jsonb", "xml", "tsvector",
    "inet", "cidr", "macaddr", "macaddr8", "int4range", "int8range", "numrange", "tsrange",
    "tstzrange", "daterange", "citext", "ltree",
})  # fmt: skip
# Key types whose stored text PostgreSQL reads back as the same value (`key_literal`).
KEY_TYPES = frozenset({"int2", "int4", "int8", "oid", "numeric", "date", "timestamp",
                       "timestamptz", "time", "text", "varchar", "bpchar", "uuid", "inet",
                       "cidr", "macaddr", "enum"})  # fmt: skip
_OFFSET = re.compile(r"([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?$")
_INTERVAL = re.compile(
    r"P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?[\d.]+)S)?)?"
)


@dataclass(frozen=True)
class Column:
    """One column as `pg_attribute` describes it: its (element) type and modifier."""

    name: str
    kind: str  # the type's name (an enum is "enum"; a domain, its base type)
    array: bool = False
    typmod: int = -1

    @property
    def type_name(self) -> str:
        return self.kind + "[]" if self.array else self.kind

    @property
    def omitted(self) -> bool:
        return self.type_name in OMITTED

    def expression(self) -> sql.Composable:
        """What the query selects for this column: the text its type's output function
        writes (a cast to text differs: it drops a char(n)'s padding, adds an inet's /32)."""
        value: sql.Composable = sql.Identifier("t", self.name)
        if self.omitted or (self.array and self.kind in NULL_ARRAYS):
            return sql.SQL("NULL")
        if self.kind == "hstore" and self.array:
            return sql.SQL(
                "CASE WHEN {0} IS NULL THEN NULL ELSE array_to_json(ARRAY("
                "SELECT hstore_to_json(h)::text FROM unnest({0}) AS h))::text END"
            ).format(value)
        if self.kind == "money":
            value = sql.SQL("{}::numeric").format(value)  # its text follows lc_monetary
        elif self.kind == "hstore":
            value = sql.SQL("hstore_to_json({})").format(value)
        # concat() writes NULL as '': keep the null
        return sql.SQL("CASE WHEN {0} IS NULL THEN NULL ELSE concat({0}) END").format(value)

    def read(self, text: str) -> Any:
        """The stored value of this column's text; ValueError for one Debezium cannot send
        intact."""
        reader = self._reader
        if reader is None:
            raise ValueError(f"column {self.name!r} of type {self.type_name} is not compared")
        if not self.array:
            return reader(text)
        if self.kind in NULL_ARRAYS:
            return None
        elements = json.loads(text) if self.kind == "hstore" else array_elements(text)
        if any(type(e) is list for e in elements):
            raise ValueError(
                f"column {self.name!r} holds a multi-dimensional array, which Debezium does not"
                " send intact (nulls or Java object names in its place): not compared"
            )
        if self.kind == "numeric" and any(e in pg_values.NUMERIC_SPECIALS for e in elements):
            raise ValueError(
                f"column {self.name!r} holds NaN or Infinity in a numeric array, which Debezium"
                " sends as null: not compared"
            )
        return [None if e is None else reader(e) for e in elements]

    @property
    def _reader(self) -> Callable[[str], Any] | None:
        if self.kind in ("bit", "varbit"):  # bit(1) is a boolean; varbit(1) is not
            return _boolean_bit if self.kind == "bit" and self.typmod == 1 else _bits
        if self.kind == "timestamptz":
            digits = 6 if self.typmod < 0 else self.typmod
            return lambda text: zoned_timestamp(text, digits)
        if self.kind in TEXT_TYPES or self.kind == "enum":
            return _same
        return READERS.get(self.kind)


def array_elements(text: str) -> list[Any]:
    """PostgreSQL's text of an array (`{a,"b c",NULL,{1,2}}`): its elements' text, None for
    NULL, a list for each inner dimension."""
    if text.startswith("["):  # `[0:1]={...}`: bounds other than 1
        text = text[text.index("=") + 1 :]
    stack: list[list[Any]] = [[]]
    i = 1
    while i < len(text):
        char = text[i]
        if char == "{":
            stack.append([])
            i += 1
        elif char == "}":
            if len(stack) > 1:
                inner = stack.pop()
                stack[-1].append(inner)
            i += 1
        elif char == ",":
            i += 1
        elif char == '"':
            i, element = _quoted(text, i + 1)
            stack[-1].append(element)
        else:
            end = i
            while text[end] not in ",}":
                end += 1
            element = text[i:end]
            stack[-1].append(None if element.upper() == "NULL" else element)
            i = end
    return stack[0]


def _quoted(text: str, i: int) -> tuple[int, str]:
    out = []
    while text[i] != '"':
        if text[i] == "\\":
            i += 1
        out.append(text[i])
        i += 1
    return i + 1, "".join(out)


def _same(text: str) -> str:
    return text


def _boolean_bit(text: str) -> bool:
    return text == "1"


def _bits(text: str) -> str:
    return pg_values.bits_text(int(text or "0", 2))


def _bytea(text: str) -> str:
    return base64.b64encode(bytes.fromhex(text.removeprefix("\\x"))).decode()


def date_text(text: str) -> str:
    """`2023-12-06`; a BC date as an astronomical year (`0044-03-15 BC` is `-0043-03-15`)."""
    if text in (pg_values.INFINITY, pg_values.MINUS_INFINITY):
        return text
    bc = text.endswith(" BC")
    year, rest = text.removesuffix(" BC").split("-", 1)
    return f"{pg_values.year_text(1 - int(year) if bc else int(year))}-{rest}"


def local_timestamp(text: str) -> str:
    """`2023-12-06T12:34:56.789` (the fraction as PostgreSQL trims it)."""
    if text in (pg_values.INFINITY, pg_values.MINUS_INFINITY):
        return text
    bc = text.endswith(" BC")
    day, time = text.removesuffix(" BC").split(" ")
    return f"{date_text(day + (' BC' if bc else ''))}T{time}"


def zoned_timestamp(text: str, digits: int) -> str:
    """Debezium's `ZonedTimestamp`: UTC, `Z`, the fraction padded to the column's precision.
    The session is in UTC, so PostgreSQL's text ends in `+00`."""
    if text in (pg_values.INFINITY, pg_values.MINUS_INFINITY):
        return text
    bc = text.endswith(" BC")
    local = local_timestamp(text.removesuffix(" BC").removesuffix("+00") + (" BC" if bc else ""))
    whole, _, fraction = local.partition(".")
    return f"{whole}{pg_values.fraction_text(int(fraction.ljust(6, '0')), digits)}Z"


def zoned_time(text: str) -> str:
    """Debezium's `ZonedTime`: the time in UTC (`12:34:56.789+02` is `10:34:56.789Z`)."""
    match = _OFFSET.search(text)
    if match is None:
        raise ValueError(f"{text!r} has no UTC offset")
    sign, hours, minutes, seconds = match.groups()
    offset = (int(hours) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)) * 1_000_000
    local = text[: match.start()]
    hms, _, fraction = local.partition(".")
    hour, minute, second = (int(part) for part in hms.split(":"))
    micros = ((hour * 60 + minute) * 60 + second) * 1_000_000 + int(fraction.ljust(6, "0"))
    utc = (micros - offset if sign == "+" else micros + offset) % pg_values.MICROS_PER_DAY
    return pg_values.time_of_micros(utc) + "Z"


def interval_of_iso(text: str) -> str:
    """PostgreSQL's ISO 8601 interval (`P1Y2M3DT4H5M6.789S`, `PT0S`) as Debezium's string."""
    match = _INTERVAL.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 interval")
    years, months, days, hours, minutes = (int(part or 0) for part in match.groups()[:5])
    seconds = Decimal(match[6] or 0)
    micros = (hours * 3600 + minutes * 60) * 1_000_000 + int(seconds * 1_000_000)
    return pg_values.interval_text(years * 12 + months, days, micros)


def _point(text: str) -> dict[str, Any]:
    x, y = text.strip("()").split(",")
    return pg_values.point_value(Decimal(x), Decimal(y))


def _float(text: str, single: bool = False) -> Any:
    return pg_values.float_value(text if text in pg_values.FLOAT_SPECIALS else float(text), single)


def _numeric(text: str) -> str:
    return pg_values.NUMERIC_SPECIALS.get(text, text)


READERS: dict[str, Callable[[str], Any]] = {
    **dict.fromkeys(("int2", "int4", "int8", "oid"), int),
    "float4": lambda text: _float(text, single=True),
    "float8": _float,
    "numeric": _numeric,
    "money": _numeric,  # read as numeric: its text with two decimals
    "bool": lambda text: text == "t",
    "bytea": _bytea,
    "date": date_text,
    "time": _same,
    "timetz": zoned_time,
    "timestamp": local_timestamp,
    "interval": interval_of_iso,
    "point": _point,
    "hstore": lambda text: pg_values.hstore_text(json.loads(text)),
}


def key_literal(column: Column, stored: str) -> str | None:
    """The PostgreSQL text of a stored key value of `column`; None when no row can hold it
    (not the form the column's values are stored in, such as a date's old day count)."""
    kind = column.kind
    try:
        if kind in ("int2", "int4", "int8", "oid"):
            return stored if str(int(stored)) == stored else None
        if kind == "numeric":
            special = {v: k for k, v in pg_values.NUMERIC_SPECIALS.items()}.get(stored)
            return special or (stored if _numeric(str(Decimal(stored))) == stored else None)
        if kind in ("date", "timestamp", "timestamptz"):
            return _bc_literal(stored)
    except ArithmeticError:
        return None
    return stored


def _bc_literal(stored: str) -> str | None:
    """A stored date or timestamp back as PostgreSQL's text (astronomical years as BC)."""
    match = re.fullmatch(r"([+-]?)(\d{4,})(-\d\d-\d\d(?:T[\d:.]+Z?)?)", stored)
    if match is None:
        return stored if stored in (pg_values.INFINITY, pg_values.MINUS_INFINITY) else None
    sign, year, rest = match.groups()
    if sign == "-" or year == "0000":
        return f"{1 + int(year):04d}{rest} BC"
    return year + rest
