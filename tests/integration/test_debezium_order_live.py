"""The commit order against the real PostgreSQL + Kafka Connect + Debezium 3.6.1: a transaction
open across the slot's creation, an incremental snapshot racing updates, a compacted topic whose
delete records the cleaner removed, one source feeding two tables, a flattening transform.

Each test checks both stores against the table's rows as PostgreSQL returns them.
"""

import asyncio
import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.devstack.connect import postgres_connector
from streams.devstack.process import wait_until
from streams.kafka.clients import Kafka
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.model.tables import TableSpec
from streams.settings import Settings
from tests.conftest import Services
from tests.support.debezium import (
    DebeziumStack,
    debezium_stack,
    drop_connector,
    running,
    stores_hold,
    users_of,
)
from tests.support.worker import WorkerProcess, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[DebeziumStack]:
    with debezium_stack(services) as debezium:
        yield debezium


class Case:
    """One test's table, connector name (= topic prefix) and slot, and its settings."""

    def __init__(self, stack: DebeziumStack, services: Services, name: str) -> None:
        self.suffix = uuid.uuid4().hex[:8]
        self.stack, self.table, self.prefix = stack, f"{name}_{self.suffix}", f"{name}{self.suffix}"
        self.slot = f"cdc_{self.suffix}"
        self.source = f"{self.prefix}.public.{self.table}"
        own = services.settings()  # a changes topic, group and Redis prefix of this test's own
        fresh = {key: getattr(own, key) for key in ("topic", "group_id", "redis_key_prefix")}
        users = users_of(self.source, f"users-{self.suffix}")
        self.settings = stack.settings.model_copy(update={"tables": {"users": users}, **fresh})

    def sql(self, statement: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.settings.postgres_url, autocommit=True) as conn:
            cursor = conn.execute(statement, args or None)
            return cursor.fetchall() if cursor.description else []

    def rows(self) -> dict[str, dict[str, Any] | None]:
        found = self.sql(f"SELECT id, name FROM {self.table}")
        return {str(row_id): {"name": name} for row_id, name in found}

    def create(self, rows: int) -> None:
        self.sql(f"CREATE TABLE {self.table} (id int PRIMARY KEY, name text NOT NULL)")
        self.sql(f"INSERT INTO {self.table} SELECT g, 'n' || g FROM generate_series(1, {rows}) g")

    def topic(self, config: dict[str, str] | None = None) -> str:
        topic = self.settings.tables["users"].feed_topic(self.settings.topic)
        kept = config or {"cleanup.policy": "delete"}
        asyncio.run(ensure_topics(Kafka.of(self.settings.kafka), [TopicSpec(topic, 1, 1, kept)]))
        return topic

    def connect(self, tables: list[str], **config: str) -> None:
        connector = postgres_connector(self.stack.database.port, self.prefix, tables, self.slot)
        self.stack.connect.put_connector(self.prefix, connector | config)

    def running(self) -> bool:
        return running(self.stack.connect, self.prefix)

    def drop(self) -> None:
        drop_connector(self.stack.connect, self.stack.database, self.prefix, self.suffix)


def records_of(settings: Settings, topic: str) -> list[tuple[bytes | None, dict[str, Any] | None]]:
    """Every record of `topic` now (key, payload; None for a tombstone), in offset order."""

    async def read() -> list[tuple[bytes | None, dict[str, Any] | None]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers,
                                    enable_auto_commit=False)  # fmt: skip
        await consumer.start()
        try:
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            end = (await consumer.end_offsets([partition]))[partition]
            found = []
            while await consumer.position(partition) < end:
                for messages in (await consumer.getmany(timeout_ms=1000)).values():
                    found += [(m.key, json.loads(m.value)["payload"] if m.value else None)
                              for m in messages]  # fmt: skip
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_a_transaction_open_across_the_slots_creation_wins_over_the_snapshot_in_both_tables(
    services: Services, stack: DebeziumStack, tmp_path: Path
) -> None:
    """One transaction holds the slot's creation back; a second begins meanwhile; a third
    begins once the slot's snapshot is being built, updates row 1 and commits after the
    snapshot read it. Debezium sends the read (at the consistent point) and then the update
    with a lower LSN and no last commit: both stores must keep the update, in both tables
    declaring the source (one with its columns renamed), and `verify --source postgres`
    agrees for each."""
    case = Case(stack, services, "straddle")
    case.create(3)
    profiles = TableSpec(partition_key="pid", format="debezium", source=case.source,
                         columns={"id": "pid", "name": "label"},
                         dynamodb_table=f"profiles-{case.suffix}")  # fmt: skip
    tables = {**case.settings.tables, "profiles": profiles}
    settings = case.settings.model_copy(update={"tables": tables})
    topic = case.topic()
    worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
    holding = psycopg.connect(settings.postgres_url)
    second = psycopg.connect(settings.postgres_url)
    third = psycopg.connect(settings.postgres_url)
    try:
        holding.execute("SELECT txid_current()")  # the slot waits for it
        case.connect([f"public.{case.table}"])
        assert wait_until(lambda: bool(case.sql(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", case.slot)), 30)  # fmt: skip
        second.execute("SELECT txid_current()")  # begun while the slot waits
        holding.commit()
        case.sql("CHECKPOINT")  # logs the running transactions: the slot moves on to `second`
        third.execute(f"UPDATE {case.table} SET name = 'committed later' WHERE id = 1")
        second.commit()
        assert wait_until(lambda: _read_row_1(settings, topic) or bool(case.sql("CHECKPOINT")),
                          60), "no snapshot read"  # fmt: skip
        third.commit()
        case.sql(f"UPDATE {case.table} SET name = 'after' WHERE id = 2")
        rows = case.rows()
        assert rows["1"] == {"name": "committed later"}
        labels: dict[str, dict[str, Any] | None] = {
            key: {"label": row["name"]} for key, row in rows.items() if row
        }
        assert wait_until(lambda: stores_hold(settings, rows) and stores_hold(
            settings, labels, "profiles", "pid"), 90, interval=1), worker.log_tail()  # fmt: skip
        _assert_the_update_came_after_the_read_with_a_lower_lsn(settings, topic)
        for table in ("users", "profiles"):
            for store in ("redis", "dynamodb"):
                argv = ["verify", "--source", "postgres", "--table", table, "--store", store]
                shown = stack.cli(*argv, settings=settings)
                assert shown.returncode == 0, shown.stdout + shown.stderr
    finally:
        for conn in (holding, second, third):
            conn.close()
        worker.stop()
        case.drop()


def _read_row_1(settings: Settings, topic: str) -> bool:
    records = records_of(settings, topic)
    return any(p and p["op"] == "r" and p["after"]["id"] == 1 for _, p in records)


def _assert_the_update_came_after_the_read_with_a_lower_lsn(settings: Settings, topic: str) -> None:
    records = [p for _, p in records_of(settings, topic) if p and (p["after"] or {}).get("id") == 1]
    read, update = records[0], records[1]
    assert (read["op"], read["after"]["name"], update["op"]) == ("r", "n1", "u"), records
    assert update["source"]["lsn"] < read["source"]["lsn"], (update["source"], read["source"])
    assert json.loads(update["source"]["sequence"])[0] is None, update["source"]


def test_an_incremental_snapshot_racing_updates_ends_equal_to_the_table(
    services: Services, stack: DebeziumStack, tmp_path: Path
) -> None:
    """A connector started without a snapshot; updates run while an `execute-snapshot` signal
    (incremental, chunks of 25 rows) backfills the table: every row reaches both stores, each
    as the table holds it at the end, and the reads raced the updates (some rows were read,
    then updated)."""
    case = Case(stack, services, "backfill")
    case.create(300)
    signals = f"signals_{case.suffix}"
    case.sql(f"CREATE TABLE {signals} (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL,"
             " data varchar(2048))")  # fmt: skip
    topic = case.topic()
    worker = WorkerProcess(services, case.settings, tmp_path / "worker.log").start()
    stop = threading.Event()
    writer = threading.Thread(target=_update_until, args=(case, stop, 300), daemon=True)
    try:
        case.connect([f"public.{case.table}", f"public.{signals}"], **{
            "snapshot.mode": "no_data", "signal.data.collection": f"public.{signals}",
            "incremental.snapshot.chunk.size": "25"})  # fmt: skip
        assert wait_until(case.running, 60), stack.connect.connector_state(case.prefix)
        writer.start()
        time.sleep(1)  # the updates are under way
        data = {"data-collections": [f"public.{case.table}"], "type": "incremental"}
        case.sql(f"INSERT INTO {signals} VALUES (%s, 'execute-snapshot', %s)", "backfill-1",
                 json.dumps(data))  # fmt: skip
        assert wait_until(lambda: _incremental_reads(case.settings, topic) >= 100, 120)
        stop.set()
        writer.join(30)
        rows = case.rows()
        assert wait_until(lambda: stores_hold(case.settings, rows), 120, interval=1), (
            worker.log_tail()
        )
        read_then_updated = _read_then_updated(records_of(case.settings, topic))
        assert read_then_updated, "no row was updated after its chunk was read"
        letters = asyncio.run(read_topic(case.settings, case.settings.dlq_topic, 1, 3))
        assert letters == [], letters
    finally:
        stop.set()
        worker.stop()
        case.drop()


def _update_until(case: Case, stop: threading.Event, rows: int) -> None:
    rng = random.Random(7)
    with psycopg.connect(case.settings.postgres_url, autocommit=True) as conn:
        step = 0
        while not stop.is_set():
            step += 1
            conn.execute(f"UPDATE {case.table} SET name = %s WHERE id = %s",
                         (f"u{step}", rng.randint(1, rows)))  # fmt: skip
            time.sleep(0.01)


def _incremental_reads(settings: Settings, topic: str) -> int:
    return sum(
        1
        for _, p in records_of(settings, topic)
        if p and p["op"] == "r" and p["source"]["snapshot"] == "incremental"
    )


def _read_then_updated(records: list[tuple[bytes | None, dict[str, Any] | None]]) -> set[int]:
    read: set[int] = set()
    then: set[int] = set()
    for _, p in records:
        if p is None:
            continue
        row = p["after"]["id"]
        if p["op"] == "r":
            read.add(row)
        elif row in read:
            then.add(row)
    return then


COMPACTED = {"cleanup.policy": "compact", "segment.ms": "1000", "min.cleanable.dirty.ratio": "0.01",
             "min.compaction.lag.ms": "0", "delete.retention.ms": "86400000"}  # fmt: skip


def test_deletes_reach_a_worker_that_finds_only_their_tombstones(
    services: Services, stack: DebeziumStack, tmp_path: Path
) -> None:
    """A compacted topic (as docs/debezium.md allows). The worker applies five rows and stops;
    rows 2 and 4 are deleted and the cleaner removes their delete records, leaving the
    tombstones; row 4 is inserted again. Started again, the worker deletes row 2 and keeps row 4."""
    case = Case(stack, services, "compacted")
    case.create(5)
    topic = case.topic(COMPACTED)
    worker = WorkerProcess(services, case.settings, tmp_path / "worker.log").start()
    try:
        # Truncates are skipped: a compacted topic refuses their keyless records.
        case.connect([f"public.{case.table}"], **{"skipped.operations": "t"})
        assert wait_until(lambda: stores_hold(case.settings, case.rows()), 90, interval=1), (
            worker.log_tail()
        )
        worker.stop()
        case.sql(f"DELETE FROM {case.table} WHERE id IN (2, 4)")
        case.sql(f"UPDATE {case.table} SET name = 'kept' WHERE id = 5")
        assert wait_until(lambda: _cleaned(case, topic), 180, interval=2), records_of(
            case.settings, topic
        )
        case.sql(f"INSERT INTO {case.table} VALUES (4, 'back')")
        rows = case.rows() | {"2": None}
        assert rows["4"] == {"name": "back"}
        worker = WorkerProcess(services, case.settings, tmp_path / "worker2.log").start()
        assert wait_until(lambda: stores_hold(case.settings, rows), 90, interval=1), (
            worker.log_tail()
        )
    finally:
        worker.stop()
        case.drop()


def _cleaned(case: Case, topic: str) -> bool:
    """The cleaner removed the delete records and kept the tombstones (it only cleans behind
    the active segment: a later record rolls it, so row 1 keeps changing)."""
    case.sql(f"UPDATE {case.table} SET name = 'tick' || (random() * 1000)::int WHERE id = 1")
    records = records_of(case.settings, topic)
    deletes = [p for _, p in records if p and p["op"] == "d"]
    tombstones = {json.loads(key)["payload"]["id"] for key, p in records if p is None and key}
    return not deletes and tombstones >= {2, 4}


def test_a_flattened_record_is_lettered_naming_the_transform(
    services: Services, stack: DebeziumStack, tmp_path: Path
) -> None:
    case = Case(stack, services, "flat")
    case.create(1)
    case.topic()
    worker = WorkerProcess(services, case.settings, tmp_path / "worker.log").start()
    try:
        case.connect([f"public.{case.table}"], **{
            "transforms": "unwrap",
            "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState"})  # fmt: skip
        assert wait_until(lambda: bool(_letters(case.settings)), 90), worker.log_tail()
        [(_, headers)] = _letters(case.settings)
        assert headers["cdc.error.reason"] == "schema"
        assert "ExtractNewRecordState" in headers["cdc.error.message"], headers
    finally:
        worker.stop()
        case.drop()


def _letters(settings: Settings) -> list[tuple[bytes, dict[str, str]]]:
    return asyncio.run(read_topic(settings, settings.dlq_topic, 1, wait_seconds=1))
