"""Debezium records as the JSON converter writes them, for unit and integration tests."""

import json
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
) -> bytes:
    """One change event's value; `last_commit` fills `source.sequence` (None: no sequence)."""
    sequence = None if last_commit is None else json.dumps([str(last_commit), str(lsn)])
    source = {"version": "3.6.1.Final", "connector": "postgresql", "name": prefix,
              "ts_ms": 1, "snapshot": "true" if op == "r" else "false", "db": "app",
              "sequence": sequence, "schema": "public", "table": table, "txId": 7,
              "lsn": lsn, "xmin": None}  # fmt: skip
    payload = {"before": before, "after": after, "source": source, "op": op, "ts_ms": 2}
    return json.dumps(
        {"schema": {"type": "struct"}, "payload": payload} if with_schema else payload
    ).encode()


def record_key(row_id: int, with_schema: bool = True) -> bytes:
    payload = {"id": row_id}
    return json.dumps(
        {"schema": {"type": "struct"}, "payload": payload} if with_schema else payload
    ).encode()
