"""Debezium records as the JSON converter writes them, for unit and integration tests; the
PostgreSQL and Kafka Connect stack the Debezium integration tests share."""

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from streams.devstack.connect import ConnectService
from streams.devstack.postgres import BIN, PostgresService
from streams.devstack.process import free_port, port_open, wait_until
from streams.kafka.records import RawRecord, Record
from streams.model.events import ChangeEvent
from streams.model.tables import TableSpec
from streams.pipeline.debezium import DebeziumDecoder
from streams.settings import Settings
from streams.stores import open_store
from tests.conftest import PROJECT, Services

PREFIX = "pg"
# A 20 kB text that does not compress (random hex): PostgreSQL stores it out of line (TOAST).
BIG_TEXT = """CREATE OR REPLACE FUNCTION big_text(kb int DEFAULT 20) RETURNS text LANGUAGE sql
  AS $$ SELECT string_agg(md5(random()::text), '') FROM generate_series(1, kb * 32) $$"""
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
    fields: Mapping[str, dict[str, Any]] | None = None,
    incremental: bool = False,
    sequence: list[str | None] | None = None,
) -> bytes:
    """One change event's value, as Debezium 3.6.1 sends it: `source.sequence` is
    `[last_commit, lsn]` (`sequence` replaces it; an incremental read has no `lsn`). The
    schema's row fields are `fields` where given, else guessed from the values as Debezium
    types a plain column (`row_schema`)."""
    if sequence is None:
        sequence = [None if last_commit is None else str(last_commit),
                    None if lsn is None else str(lsn)]  # fmt: skip
    snapshot = "incremental" if incremental else "true" if op == "r" else "false"
    source = {"version": "3.6.1.Final", "connector": "postgresql", "name": prefix,
              "ts_ms": 1, "snapshot": snapshot, "db": "app",
              "sequence": json.dumps(sequence), "schema": "public", "table": table,
              "txId": None if incremental else 7, "lsn": lsn, "xmin": None}  # fmt: skip
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


def users_of(source: str, dynamodb_table: str) -> TableSpec:
    """The `users` declaration of the unit tests (id renamed user_id), for a table of its own."""
    return TableSpec.model_validate(
        {**USERS.model_dump(), "source": source, "dynamodb_table": dynamodb_table}
    )


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


class DebeziumStack:
    """What `stack up --with-postgres` started, and the settings that name it."""

    def __init__(self, services: Services, folder: Path) -> None:
        self.services = services
        self.folder = folder
        self.settings = services.settings(
            stack_dir=str(folder), cache_dir=str(PROJECT / ".cache"),
            postgres_url=f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",
            connect_url=f"http://127.0.0.1:{free_port()}",
        )  # fmt: skip
        self.database = PostgresService(self.settings.stack.postgres_port, folder)
        self.connect = ConnectService(
            self.settings.stack.connect_port, services.kafka_bootstrap, folder, PROJECT / ".cache"
        )

    def cli(
        self, *argv: str, settings: Settings | None = None, stdin: str | None = None
    ) -> "subprocess.CompletedProcess[str]":
        env = self.services.env(settings or self.settings)
        return subprocess.run([sys.executable, "-m", "streams.cli.main", *argv], env=env,
                              input=stdin, capture_output=True, text=True, timeout=300,
                              check=False)  # fmt: skip


@contextmanager
def debezium_stack(services: Services) -> Iterator[DebeziumStack]:
    """PostgreSQL and Connect from `stack up --with-postgres` beside the session's services,
    stopped by `stack down` (which must leave the session's Kafka alone)."""
    # As root PostgreSQL runs as `nobody`, who must reach its folder: not under pytest's own.
    folder = Path(tempfile.mkdtemp(prefix="cdc-debezium-stack-"))
    folder.chmod(0o755)
    debezium = DebeziumStack(services, folder)
    try:
        up = debezium.cli("stack", "up", "--with-postgres")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "kafka: using the service already on port" in up.stdout  # the session's
        assert "postgres: started pid" in up.stdout and "connect: started pid" in up.stdout
        yield debezium
    finally:
        down = debezium.cli("stack", "down")
        shutil.rmtree(folder, ignore_errors=True)
    assert "postgres: stopped" in down.stdout and "connect: stopped" in down.stdout, down.stdout
    assert "kafka: was not started by this stack" in down.stdout
    assert not port_open(debezium.database.port) and not port_open(debezium.connect.port)


def running(connect: ConnectService, name: str) -> bool:
    tasks = connect.connector_state(name).get("tasks", [])
    assert all(task.get("state") != "FAILED" for task in tasks), tasks
    return bool(tasks) and all(task.get("state") == "RUNNING" for task in tasks)


def stores_hold(
    settings: Settings, expected: dict[str, dict[str, Any] | None], table: str = "users",
    key: str = "user_id",
) -> bool:  # fmt: skip
    """Both stores hold each of `expected`'s rows (by key value; None: absent) in `table`."""

    async def check() -> bool:
        for name in ("redis", "dynamodb"):
            store = open_store(settings, name)
            try:
                for row_id, row in expected.items():
                    got = await store.get(table, {key: row_id})
                    if got != (None if row is None else {key: row_id, **row}):
                        return False
            finally:
                await store.close()
        return True

    return asyncio.run(check())


def drop_connector(
    connect: ConnectService, database: PostgresService, name: str, suffix: str
) -> None:
    """Stop the connector, then drop its slot so PostgreSQL keeps no WAL for it."""
    connect.request("DELETE", f"/connectors/{name}")
    wait_until(lambda: not database.json(
        f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'cdc_{suffix}' AND active"
    ), 30)  # fmt: skip
    database.psql(  # a task that failed at start may have made none
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
        f" WHERE slot_name = 'cdc_{suffix}'"
    )


def run_script(database: PostgresService, path: Path, sql: str) -> "subprocess.Popen[bytes]":
    """psql running `sql` (written to `path`) in the background, stopping at the first error."""
    path.write_text(sql)
    return subprocess.Popen(
        [str(BIN / "psql"), *database.connection_args(), "-qAt", "-v", "ON_ERROR_STOP=1",
         "-f", str(path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
