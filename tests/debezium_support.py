"""Debezium records as the JSON converter writes them, for unit and integration tests."""

import json
from collections.abc import Sequence
from typing import Any

from streams.kafka.records import RawRecord, Record
from streams.model.events import ChangeEvent
from streams.model.tables import TableSpec
from streams.pipeline.debezium import DebeziumDecoder

PREFIX = "pg"
SOURCE = f"{PREFIX}.public.users"
USERS = TableSpec(
    partition_key="user_id", format="debezium", source=SOURCE, columns={"id": "user_id"}
)


def envelope(
    op: str,
    lsn: int | None,
    *,
    after: dict[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    last_commit: int | None = None,
    table: str = "users",
    with_schema: bool = True,
    prefix: str = PREFIX,
    incremental: bool = False,
    sequence: list[str | None] | None = None,
) -> bytes:
    """One change event's value, as Debezium 3.6.1 sends it: `source.sequence` is
    `[last_commit, lsn]` (`sequence` replaces it; an incremental read has no `lsn`)."""
    if sequence is None:
        sequence = [None if last_commit is None else str(last_commit),
                    None if lsn is None else str(lsn)]  # fmt: skip
    snapshot = "incremental" if incremental else "true" if op == "r" else "false"
    source = {"version": "3.6.1.Final", "connector": "postgresql", "name": prefix,
              "ts_ms": 1, "snapshot": snapshot, "db": "app",
              "sequence": json.dumps(sequence), "schema": "public", "table": table,
              "txId": None if incremental else 7, "lsn": lsn, "xmin": None}  # fmt: skip
    payload = {"before": before, "after": after, "source": source, "op": op, "ts_ms": 2}
    return json.dumps(
        {"schema": {"type": "struct"}, "payload": payload} if with_schema else payload
    ).encode()


def record_key(row_id: int, with_schema: bool = True) -> bytes:
    payload = {"id": row_id}
    return json.dumps(
        {"schema": {"type": "struct"}, "payload": payload} if with_schema else payload
    ).encode()


def events_of(decoder: DebeziumDecoder, records: Sequence[Record]) -> list[ChangeEvent]:
    """The events `records` (in order) become; a record that cannot apply raises its error."""
    events = []
    for record in records:
        found = decoder.decode(record)
        if found.problems:
            raise found.problems[0][1]
        events += [event for event, _ in found.events]
    return events


def decode_one(decoder: DebeziumDecoder, value: bytes | None, key: bytes | None = None,
               topic: str = SOURCE) -> ChangeEvent:  # fmt: skip
    """The one event a record of `topic` (alone in its partition) becomes."""
    [event] = events_of(decoder, [RawRecord(topic, 0, 0, key, value)])
    return event
