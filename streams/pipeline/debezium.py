"""Debezium change events (Kafka Connect's JSON converter) as our change events.

The envelope comes with or without `schema`/`payload` (`value.converter.schemas.enable`).
`op` c, u and r (a snapshot read) upsert `after`; d deletes the row `before` or the record key
names; t (truncate, sent when the connector's `skipped.operations` leaves it in) cannot be
replayed row by row and is dead-lettered as `truncate`, naming the table. The
source table, `<source.name>.<source.schema>.<source.table>`, names the declared table.

Version: Debezium's `ts_ms` is a wall clock and does not follow the database's commit order (a
snapshot read can carry a later `ts_ms` than a change committed after the snapshot began), so
the version comes from the log position instead; see `postgres_version`.
"""

from collections.abc import Mapping
from typing import Any

from streams.kafka.records import Record
from streams.model import numbers
from streams.model.errors import InvalidEventError
from streams.model.events import MAX_TS, ChangeEvent, build_event
from streams.model.tables import TableSpec
from streams.pipeline.debezium_values import Fields, decode_column, row_fields

UPSERT_OPS = frozenset({"c", "u", "r"})
ORIGIN_PREFIX = "debezium:"
MAX_LSN = MAX_TS // 2  # ts is 2 x lsn + 1, below 2^53


class DebeziumDecoder:
    """Decodes the records of the Debezium topics the declared tables name."""

    def __init__(self, tables: Mapping[str, TableSpec]) -> None:
        self.tables = dict(tables)
        self.by_source = {
            spec.source: (name, spec)
            for name, spec in tables.items()
            if spec.format == "debezium" and spec.source
        }

    def decode(self, record: Record) -> ChangeEvent:
        """One record's change; `InvalidEventError` naming why it can never apply."""
        payload, schema = _payload(record.value, "value")
        op = payload.get("op")
        source = payload.get("source")
        if type(source) is not dict:
            raise InvalidEventError("schema", "source: an object is required")
        if op == "t":
            raise self._truncated(source)
        name, spec = self._table(source)
        ts, origin, event_id = postgres_version(source, op)
        version = {"ts": ts, "origin": origin, "event_id": event_id}
        if op in UPSERT_OPS:
            row = payload.get("after")
            if type(row) is not dict:
                raise InvalidEventError("schema", f"op {op!r}: 'after' must be an object")
            key, data = split_row(row, spec, row_fields(schema, "after"))
            fields = {"table": name, "op": "upsert", "key": key, "data": data, **version}
        elif op == "d":
            before = payload.get("before")
            if type(before) is dict:
                key = split_row(before, spec, row_fields(schema, "before"))[0]
            else:
                key = record_key(record.key, spec)
            fields = {"table": name, "op": "delete", "key": key, **version}
        else:
            raise InvalidEventError("schema", f"op: expected c, u, r, d or t, got {op!r}")
        return build_event(fields, self.tables)

    def _table(self, source: dict[str, Any]) -> tuple[str, TableSpec]:
        name = _source_table(source)
        found = self.by_source.get(name)
        if found is None:
            raise InvalidEventError("unknown_table", f"source table {name!r} is not declared")
        return found

    def _truncated(self, source: dict[str, Any]) -> InvalidEventError:
        """A truncate's letter names the table and the command that empties the stores' copy."""
        found = self.by_source.get(_source_table(source))
        where = f"source table {_source_table(source)!r}"
        if found is None:
            return InvalidEventError("truncate", f"{where} was truncated (a table not declared)")
        return InvalidEventError(
            "truncate",
            f"{where} was truncated: a truncate cannot be replicated row by row; delete what the"
            f" stores still hold of table {found[0]!r} with `cdc-replicator verify --source"
            f" postgres --table {found[0]} --store dynamodb --repair`",
        )


def _source_table(source: Mapping[str, Any]) -> str:
    """`<topic.prefix>.<schema>.<table>`, as a declaration's `source` names it."""
    return f"{source.get('name')}.{source.get('schema')}.{source.get('table')}"


def _payload(raw: bytes | None, what: str) -> tuple[dict[str, Any], Any]:
    """The JSON object of a value or key, inside `payload` when the schema is included, and
    that schema (None without)."""
    if raw is None:
        raise InvalidEventError("schema", f"record {what} is missing")
    try:
        parsed = numbers.loads(raw)
    except ValueError as exc:
        raise InvalidEventError("not_json", f"{what} is not JSON: {exc}") from exc
    schema = None
    if type(parsed) is dict and "schema" in parsed and "payload" in parsed:
        parsed, schema = parsed["payload"], parsed["schema"]
    if type(parsed) is not dict:
        raise InvalidEventError("schema", f"{what}: a JSON object is required")
    return parsed, schema


def record_key(raw: bytes | None, spec: TableSpec) -> dict[str, str]:
    """The key attributes a record's key names, decoded by the key's schema."""
    row, schema = _payload(raw, "key")
    return split_row(row, spec, row_fields(schema, ""))[0]


def split_row(
    row: Mapping[str, Any], spec: TableSpec, fields: Fields | None
) -> tuple[dict[str, str], dict[str, Any]]:
    """A row's key attributes (integers as their decimal text) and its other attributes, with
    columns renamed as `spec.columns` says, each value decoded by its field schema."""
    key: dict[str, str] = {}
    data: dict[str, Any] = {}
    rename = spec.columns
    for column, raw in row.items():
        name = rename.get(column, column)
        value = decode_column(column, raw, fields)
        if name in spec.key_attributes:
            key[name] = _key_text(column, name, value)
        else:
            data[name] = value
    return key, data


def _key_text(column: str, attribute: str, value: object) -> str:
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    renamed = f" (attribute {attribute!r})" if attribute != column else ""
    raise InvalidEventError(
        "bad_key", f"key column {column!r}{renamed} must be a string or an integer"
    )


def postgres_version(source: Mapping[str, Any], op: object) -> tuple[int, str, str]:
    """(ts, origin, event_id) in the database's commit order.

    The position of a change is the greater of its own `lsn` and the last commit LSN Debezium
    had seen (`source.sequence`, `["<last_commit_lsn>", "<lsn>"]`, null at first): a row's
    changes are serialized by its lock, so a later one has the greater `lsn`, and a transaction
    that wrote before another committed still comes after it. A snapshot read (`op: r`) holds
    the row as of the snapshot's start, `lsn`; every change streamed after it committed later,
    so at an equal position the read must lose: ts = 2 x position, + 1 for a change.
    `event_id` (the lsn, zero-padded so text order is number order) orders a transaction's
    changes; `origin` names the connector.
    """
    if source.get("connector", "postgresql") != "postgresql":
        raise InvalidEventError(
            "schema", f"source.connector {source.get('connector')!r}: only postgresql is read"
        )
    lsn = _lsn(source.get("lsn"), "source.lsn")
    snapshot = op == "r"
    position = lsn if snapshot else max(lsn, _last_commit_lsn(source.get("sequence")))
    name = source.get("name")
    if type(name) is not str:
        raise InvalidEventError("schema", "source.name: a string is required")
    return 2 * position + (0 if snapshot else 1), ORIGIN_PREFIX + name, f"{lsn:020d}"


def _last_commit_lsn(sequence: object) -> int:
    """The first of `source.sequence`'s pair, as text or a number (null before any commit: 0)."""
    if sequence is None:
        return 0
    try:
        last_commit = (numbers.loads(sequence) if type(sequence) is str else sequence)[0]  # type: ignore[index]
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise InvalidEventError("schema", f"source.sequence: {sequence!r} is not a pair") from exc
    if last_commit is None:
        return 0
    if type(last_commit) is str and last_commit.isascii() and last_commit.isdigit():
        last_commit = int(last_commit)
    return _lsn(last_commit, "source.sequence")


def _lsn(value: object, where: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_LSN:
        raise InvalidEventError(
            "schema", f"{where}: an LSN (an integer up to {MAX_LSN}) is required"
        )
    return value
