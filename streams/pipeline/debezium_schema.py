"""A Debezium record's JSON and its Connect schema, each schema worked out once.

Every record of a table carries the same schema (until the table changes), a few times longer
than its row. So `Schemas` remembers, per partition, the text that opened the last record
(`{"schema":<schema>,"payload":`): a record opening with the same text has only its payload
parsed. Each distinct schema becomes a `Shape`: per row struct, each column's decoder, and per
table the attribute each column becomes and the forms its unavailable-value placeholder takes.
The last `SHAPES_KEPT` shapes are kept (a schema changes only when its table does).
"""

import re
from collections.abc import Mapping
from typing import Any

from streams.model import numbers
from streams.model.errors import InvalidEventError
from streams.model.tables import TableSpec
from streams.pipeline.debezium_unavailable import NO_LOOK, Unavailable
from streams.pipeline.debezium_values import (
    Decode,
    Fields,
    column_decoder,
    decode_value,
    missing_column,
    row_fields,
)

SHAPES_KEPT = 64
FLATTENED = (
    "a row without Debezium's envelope (no op, source, before or after): the connector's"
    " ExtractNewRecordState transform (io.debezium.transforms.ExtractNewRecordState) flattened"
    " it, and a row alone says neither its operation nor its place in the commit order; remove"
    " that transform from the connector (deletes, tombstones and versions need the envelope)"
)
# What a row's column becomes: its attribute, whether it is a key attribute, its field schema,
# its decoder (None: the value is stored as sent) and its placeholder's forms (see
# `Unavailable.forms`).
Column = tuple[str, bool, Mapping[str, Any], Decode | None, list[Any] | None]
_OPENING = re.compile(rb'\s*\{\s*"schema"\s*:')
_PAYLOAD = re.compile(rb',\s*"payload"\s*:')


class RowShape:
    """One row struct of a schema (an envelope's `after` or `before`, or a record key's)."""

    def __init__(self, fields: Fields | None) -> None:
        self.fields = fields
        self.decoders = {column: column_decoder(f) for column, f in (fields or {}).items()}
        self._columns: dict[str, dict[str, Column]] = {}

    def columns(
        self, table: str, spec: TableSpec, unavailable: Unavailable | None
    ) -> dict[str, Column]:
        """What each column becomes in `table` (a decoder declares each name once)."""
        found = self._columns.get(table)
        if found is None:
            found = self._columns[table] = self._plan(spec, unavailable)
        return found

    def _plan(self, spec: TableSpec, unavailable: Unavailable | None) -> dict[str, Column]:
        rename, keys = spec.columns, spec.key_attributes
        plan: dict[str, Column] = {}
        for column, schema in (self.fields or {}).items():
            attribute = rename.get(column, column)
            forms = unavailable.forms(schema) if unavailable else []
            plan[column] = (attribute, attribute in keys, schema, self.decoders[column], forms)
        return plan


class Shape:
    """What a value's schema says: whether it is a row alone (ExtractNewRecordState's) rather
    than Debezium's envelope, and its rows (`after`, `before`), each worked out when a record
    first needs it (a malformed one raises there, as it is read)."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.a_row = _a_row_schema(schema)
        self._rows: dict[str, RowShape] = {}

    def row(self, part: str) -> RowShape:
        found = self._rows.get(part)
        if found is None:
            found = self._rows[part] = RowShape(row_fields(self.schema, part))
        return found


class Schemas:
    """A decoder's record values, read with the shape of their schema."""

    def __init__(self) -> None:
        self.shapes: dict[bytes, Shape] = {}  # by the schema's text, oldest first
        self.openings: dict[tuple[str, int], tuple[bytes, Shape]] = {}  # per partition
        self.schemaless = Shape(None)

    def value(self, raw: bytes | None, where: tuple[str, int]) -> tuple[dict[str, Any], Shape]:
        """A value's payload and its schema's shape; InvalidEventError as `payload` says."""
        seen = self.openings.get(where)
        if seen is not None and raw is not None and raw.startswith(seen[0]) and raw[-1:] == b"}":
            opening, shape = seen
            try:  # the rest, but for the closing brace, must be one JSON value
                parsed = numbers.loads(raw[len(opening) : -1])
            except ValueError:
                pass  # not: the whole value is parsed, as below, for its error
            else:
                if type(parsed) is dict:  # the common case, inline
                    return parsed, shape
                return _checked(parsed, "value", shape), shape
        parsed = _parsed(raw, "value")
        if type(parsed) is dict and "schema" in parsed and "payload" in parsed:
            shape = self._shape(raw, where, parsed["schema"])  # type: ignore[arg-type]
            return _checked(parsed["payload"], "value", shape), shape
        return _checked(parsed, "value", self.schemaless), self.schemaless

    def _shape(self, raw: bytes, where: tuple[str, int], schema: Any) -> Shape:
        """The shape of `schema`, the one `raw` carries; its opening is remembered when the
        schema's text is found in `raw`."""
        found = _schema_text(raw, schema)
        if found is None:
            return Shape(schema)
        opening, text = found
        shape = self.shapes.pop(text, None) or Shape(schema)
        self.shapes[text] = shape  # the newest last
        if len(self.shapes) > SHAPES_KEPT:
            del self.shapes[next(iter(self.shapes))]
        self.openings[where] = (opening, shape)
        return shape


def key_payload(raw: bytes | None) -> tuple[dict[str, Any], Any]:
    """The JSON object of a record key, inside `payload` when the schema is included, and
    that schema (None without)."""
    parsed = _parsed(raw, "key")
    schema = None
    if type(parsed) is dict and "schema" in parsed and "payload" in parsed:
        parsed, schema = parsed["payload"], parsed["schema"]
    return _checked(parsed, "key", None), schema


def _parsed(raw: bytes | None, what: str) -> Any:
    if raw is None:
        raise InvalidEventError("schema", f"record {what} is missing")
    try:
        return numbers.loads(raw)
    except ValueError as exc:
        raise InvalidEventError("not_json", f"{what} is not JSON: {exc}") from exc


def _checked(parsed: Any, what: str, shape: Shape | None) -> dict[str, Any]:
    if parsed is None and shape is not None and shape.a_row:
        raise InvalidEventError("schema", FLATTENED)  # a flattened delete
    if type(parsed) is not dict:
        raise InvalidEventError("schema", f"{what}: a JSON object is required")
    return parsed


def _schema_text(raw: bytes, schema: Any) -> tuple[bytes, bytes] | None:
    """Where `raw`, a JSON object whose `schema` is `schema`, opens with that schema followed
    by its `payload`: the text up to the payload, and the schema's text. The first `"payload"`
    key after the opening whose text before parses completely is the payload's (no proper part
    of an object is a whole JSON value); it is taken only if it parses as `schema` (a key named
    twice could say otherwise)."""
    opened = _OPENING.match(raw)
    if opened is None:
        return None
    for key in _PAYLOAD.finditer(raw, opened.end()):
        text = raw[opened.end() : key.start()]
        try:
            parsed = numbers.loads(text)
        except ValueError:
            continue
        return (raw[: key.end()], text) if parsed == schema else None
    return None


def _a_row_schema(schema: Any) -> bool:
    """A struct schema that is not Debezium's envelope: a row, as ExtractNewRecordState sends
    it."""
    if type(schema) is not dict or schema.get("type") != "struct":
        return False
    return not str(schema.get("name", "")).endswith(".Envelope")


def record_key(raw: bytes | None, spec: TableSpec) -> dict[str, str]:
    """The key attributes a record's key names, decoded by the key's schema."""
    row, schema = key_payload(raw)
    shape = RowShape(row_fields(schema, ""))
    return split_change(row, shape.columns("", spec, None), shape.fields, None)[0]


def split_change(
    row: Mapping[str, Any], columns: Mapping[str, Column], fields: Fields | None,
    unavailable: Unavailable | None,
) -> tuple[dict[str, str], dict[str, Any], list[str]]:  # fmt: skip
    """A row's key attributes (integers as their decimal text), its other attributes and the
    attributes whose value the connector did not send (`unavailable` tells its placeholder
    from data; None: every value is data), each column renamed and decoded as `columns` says
    (`fields`, the row's field schemas, name what a column not in them lacks)."""
    key: dict[str, str] = {}
    data: dict[str, Any] = {}
    unchanged: list[str] = []
    # The first look, inline (a row's every value passes it): a text is one only if it is
    # as short as a placeholder's text and one of them (never hashing a long text).
    carriers, heads, longest = unavailable.first_look if unavailable else NO_LOOK
    for column, raw in row.items():
        found = columns.get(column)
        if found is None:
            raise missing_column(column, fields)
        attribute, is_key, schema, decode, forms = found
        if is_key:
            value = raw if decode is None or raw is None else decode_value(column, raw, schema,
                                                                              decode)  # fmt: skip
            key[attribute] = value if type(value) is str else _key_text(column, attribute, value)
        elif (
            (kind := type(raw)) in carriers
            and (kind is not str or (len(raw) <= longest and raw in heads))
            and unavailable is not None
            and unavailable.is_one_of(raw, schema, forms)
        ):
            unchanged.append(attribute)
        elif decode is None or raw is None:
            data[attribute] = raw  # the common case, on the worker's hot path
        else:
            data[attribute] = decode_value(column, raw, schema, decode)
    return key, data, unchanged


def _key_text(column: str, attribute: str, value: object) -> str:
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    renamed = f" (attribute {attribute!r})" if attribute != column else ""
    raise InvalidEventError(
        "bad_key", f"key column {column!r}{renamed} must be a string or an integer"
    )
