"""End to end: PostgreSQL -> Debezium (Kafka Connect standalone) -> the worker -> both stores."""

import asyncio
import json
import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.devstack.connect import ConnectService
from streams.devstack.process import free_port, wait_until
from streams.kafka.clients import Kafka
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.model.tables import TableSpec
from streams.settings import Settings
from streams.stores import open_store
from tests.conftest import PROJECT, Services
from tests.integration.postgres import BIN, Postgres, postgres
from tests.integration.worker import WorkerProcess, read_records

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROWS = 300


@pytest.fixture(scope="module")
def database() -> Iterator[Postgres]:
    with postgres() as db:
        yield db


@pytest.fixture(scope="module")
def connect(
    services: Services, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectService]:
    service = ConnectService(
        free_port(),
        services.kafka_bootstrap,
        tmp_path_factory.mktemp("connect"),
        PROJECT / ".cache",
    )
    service.prepare()
    process = service.process()
    process.start()
    try:
        assert wait_until(service.ready, 120), process.log_tail(40)
        yield service
    finally:
        process.stop()


def test_a_table_changed_during_debeziums_snapshot_ends_equal_in_both_stores(
    services: Services, database: Postgres, connect: ConnectService, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    table, prefix = f"users_{suffix}", f"app{suffix}"
    database.psql(
        f"CREATE TABLE {table} (id int PRIMARY KEY, name text NOT NULL, score numeric(10,2));"
        f"INSERT INTO {table} SELECT g, 'n' || g, g * 1.5 FROM generate_series(1, {ROWS}) g"
    )
    users = TableSpec(
        partition_key="user_id", dynamodb_table=f"users-{suffix}", format="debezium",
        source=f"{prefix}.public.{table}", columns={"id": "user_id"},
    )  # fmt: skip
    settings = services.settings(tables={"users": users})
    topic = users.feed_topic(settings.topic)
    compacted = {"cleanup.policy": "compact"}
    asyncio.run(ensure_topics(Kafka.of(settings.kafka), [TopicSpec(topic, 2, 1, compacted)]))
    worker = WorkerProcess(services, settings, tmp_path / "worker.log")
    worker.start()
    rng = random.Random(17)
    try:
        known = list(range(1, ROWS + 1))  # every id the table ever held
        during = _changes(table, rng, 150, known)
        changing = _run_script(database, tmp_path / "during.sql", during)
        time.sleep(0.3)  # the changes have begun: the snapshot races them
        connect.put_connector(prefix, _connector(database, prefix, table, suffix))
        assert changing.wait(60) == 0
        assert wait_until(lambda: _running(connect, prefix), 60), connect.connector_state(prefix)
        assert wait_until(lambda: _snapshot_done(settings, topic), 60), "no snapshot's end"
        # More once the snapshot is over, however long the connector took to start.
        later = _changes(table, rng, 30, known)
        assert _run_script(database, tmp_path / "after.sql", later).wait(60) == 0
        final = database.json(
            f"SELECT json_object_agg(id, json_build_object('name', name, 'score', score::text))"
            f" FROM {table}"
        )
        expected = {str(i): final.get(str(i)) for i in known}
        assert len(final) > ROWS // 2 and len(expected) > len(final)  # deletes and inserts ran
        assert wait_until(lambda: _stores_hold(settings, expected), 120, interval=1), (
            worker.log_tail()
        )
        assert worker.alive()
        _assert_the_snapshot_raced_the_changes(settings, topic)
    finally:
        worker.stop()
        _drop(connect, database, prefix, suffix)


def _snapshot_done(settings: Settings, topic: str) -> bool:
    """Debezium marks the snapshot's last read `source.snapshot: last`."""
    records = asyncio.run(read_records(settings, topic, 100_000, wait_seconds=1))
    events = [json.loads(r.value)["payload"] for r in records if r.value is not None]
    return any(e["source"]["snapshot"] == "last" for e in events)


def _assert_the_snapshot_raced_the_changes(settings: Settings, topic: str) -> None:
    """Some changes committed before the snapshot (its reads hold them), some after it."""
    records = asyncio.run(read_records(settings, topic, 10_000, wait_seconds=3))
    events = [json.loads(r.value)["payload"] for r in records if r.value is not None]
    reads = [e["after"]["name"] for e in events if e["op"] == "r"]
    assert reads and any(not name.startswith("n") for name in reads), "no change before it"
    assert any(e["op"] != "r" for e in events), "no change after the snapshot"


def _run_script(database: Postgres, path: Path, sql: str) -> "subprocess.Popen[bytes]":
    path.write_text(sql)
    return subprocess.Popen(
        [str(BIN / "psql"), "-h", "127.0.0.1", "-p", str(database.port), "-U", "postgres", "-qAt",
         "-v", "ON_ERROR_STOP=1", "-f", str(path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def _changes(table: str, rng: random.Random, count: int, known: list[int]) -> str:
    """Updates, deletes and inserts (of new ids, added to `known`), some several to a
    transaction, 20 ms apart."""
    statements = []
    for i in range(count):
        kind = rng.random()
        row = rng.choice(known)
        if kind < 0.5:
            statements.append(f"UPDATE {table} SET name = 'u{i}', score = {i}.25 WHERE id = {row};")
        elif kind < 0.7:
            statements.append(f"DELETE FROM {table} WHERE id = {row};")
        elif kind < 0.9:
            known.append(max(known) + 1)
            statements.append(f"INSERT INTO {table} VALUES ({known[-1]}, 'i{i}', {i});")
        else:  # one transaction: a row deleted, then inserted again, then updated
            statements.append(
                f"BEGIN; DELETE FROM {table} WHERE id = {row};"
                f" INSERT INTO {table} VALUES ({row}, 'again{i}', 1);"
                f" UPDATE {table} SET name = 't{i}' WHERE id = {row}; COMMIT;"
            )
        statements.append("SELECT pg_sleep(0.02);")
    return "\n".join(statements) + "\n"


def _connector(database: Postgres, prefix: str, table: str, suffix: str) -> dict[str, str]:
    return {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "plugin.name": "pgoutput",
        "database.hostname": "127.0.0.1",
        "database.port": str(database.port),
        "database.user": "postgres",
        "database.password": "unused",  # trust authentication on loopback
        "database.dbname": "postgres",
        "topic.prefix": prefix,
        "table.include.list": f"public.{table}",
        "slot.name": f"cdc_{suffix}",
        "publication.name": f"cdc_{suffix}",
        "publication.autocreate.mode": "filtered",
        "snapshot.mode": "initial",
        "decimal.handling.mode": "string",
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": "1",
        "topic.creation.default.cleanup.policy": "compact",
    }


def _running(connect: ConnectService, name: str) -> bool:
    tasks = connect.connector_state(name).get("tasks", [])
    assert all(task.get("state") != "FAILED" for task in tasks), tasks
    return bool(tasks) and all(task.get("state") == "RUNNING" for task in tasks)


def _stores_hold(settings: Settings, expected: dict[str, dict[str, Any] | None]) -> bool:
    async def check() -> bool:
        for name in ("redis", "dynamodb"):
            store = open_store(settings, name)
            try:
                for row_id, row in expected.items():
                    got = await store.get("users", {"user_id": row_id})
                    if got != (None if row is None else {"user_id": row_id, **row}):
                        return False
            finally:
                await store.close()
        return True

    return asyncio.run(check())


def _drop(connect: ConnectService, database: Postgres, name: str, suffix: str) -> None:
    """Stop the connector, then drop its slot so PostgreSQL keeps no WAL for it."""
    connect.request("DELETE", f"/connectors/{name}")
    wait_until(lambda: not database.json(
        f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'cdc_{suffix}' AND active"
    ), 30)  # fmt: skip
    database.psql(f"SELECT pg_drop_replication_slot('cdc_{suffix}')")
