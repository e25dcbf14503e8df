"""Debezium records as the JSON converter writes them, for unit and integration tests."""

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from streams.model.tables import TableSpec

PREFIX = "pg"
SOURCE = f"{PREFIX}.public.users"
USERS = TableSpec(
    partition_key="user_id", format="debezium", source=SOURCE, columns={"id": "user_id"}
)


def envelope(
    op: str,
    lsn: int,
    *,
    after: dict[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    last_commit: int | None = None,
    table: str = "users",
    with_schema: bool = True,
    prefix: str = PREFIX,
    fields: Mapping[str, dict[str, Any]] | None = None,
) -> bytes:
    """One change event's value; `last_commit` fills `source.sequence` (None: no sequence).
    The schema's row fields are `fields` where given, else guessed from the values as
    Debezium types a plain column (`row_schema`)."""
    sequence = None if last_commit is None else json.dumps([str(last_commit), str(lsn)])
    source = {"version": "3.6.1.Final", "connector": "postgresql", "name": prefix,
              "ts_ms": 1, "snapshot": "true" if op == "r" else "false", "db": "app",
              "sequence": sequence, "schema": "public", "table": table, "txId": 7,
              "lsn": lsn, "xmin": None}  # fmt: skip
    payload = {"before": before, "after": after, "source": source, "op": op, "ts_ms": 2}
    row = row_schema({**(before or {}), **(after or {})}, fields or {})
    envelope_schema = {"type": "struct", "fields": [
        {**row, "field": "before"}, {**row, "field": "after"},
        {"type": "struct", "field": "source"}, {"type": "string", "field": "op"},
    ]}  # fmt: skip
    return json.dumps(
        {"schema": envelope_schema, "payload": payload} if with_schema else payload, default=str
    ).encode()


def record_key(row_id: Any, with_schema: bool = True, field: dict[str, Any] | None = None) -> bytes:
    payload = {"id": row_id}
    schema = row_schema(payload, {"id": field} if field else {})
    return json.dumps({"schema": schema, "payload": payload} if with_schema else payload).encode()


def row_schema(row: Mapping[str, Any], fields: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """A row struct's Connect schema: `fields` where given, else each value's plain type."""
    return {"type": "struct", "optional": True, "fields": [
        {**(fields.get(column) or {"type": _plain_type(value)}), "field": column}
        for column, value in row.items()
    ]}  # fmt: skip


def _plain_type(value: Any) -> str:
    if type(value) is bool:
        return "boolean"
    if type(value) is int:
        return "int64"
    if type(value) in (float, Decimal):
        return "double"
    if type(value) is list:
        return "array"
    return "struct" if type(value) is dict else "string"
