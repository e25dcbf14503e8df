"""End to end: PostgreSQL -> Debezium (Kafka Connect, distributed) -> the worker -> both stores.

PostgreSQL and Connect come from `cdc-replicator stack up --with-postgres` (a stack folder and
ports of the module's own; the session's Kafka, Redis and DynamoDB API are found on their ports
and left alone), and `verify --source postgres` compares each store with the table.
"""

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

from streams.devstack.connect import postgres_connector
from streams.devstack.process import free_port, wait_until
from streams.kafka.clients import Kafka
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.model import numbers
from streams.model.events import ItemId, build_event
from streams.settings import Settings
from streams.stores import dynamodb_client, open_store
from tests.conftest import Services
from tests.support.debezium import BIG_TEXT, DebeziumStack, debezium_stack, run_script, users_of
from tests.support.debezium import drop_connector as _drop
from tests.support.debezium import running as _running
from tests.support.debezium import stores_hold as _stores_hold
from tests.support.worker import WorkerProcess, fetch, read_records, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROWS = 300
# Beside the text and numeric columns the changes touch: types whose values `verify --source
# postgres` must read exactly as Debezium sends them (a float's digits, an int64 past 2^53,
# jsonb as its text), and a 20 kB text PostgreSQL stores out of line (TOAST), which the
# updates leave unchanged: under REPLICA IDENTITY DEFAULT Debezium sends a placeholder for it.
EXTRA_COLUMNS = ("ok boolean, ratio double precision, big bigint DEFAULT 9007199254740993,"
                 " tags jsonb DEFAULT '{\"a\": [1, 2.50]}',"
                 " body text DEFAULT big_text()")  # fmt: skip


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[DebeziumStack]:
    with debezium_stack(services) as debezium:
        debezium.database.psql(BIG_TEXT)
        yield debezium


def test_stack_status_shows_postgres_and_connect(stack: DebeziumStack) -> None:
    status = stack.cli("stack", "status")  # no option: the running ones are found by pid
    assert status.returncode == 0, status.stdout + status.stderr
    lines = {line.split()[0]: line for line in status.stdout.splitlines()}
    for name, port in (("postgres", stack.database.port), ("connect", stack.connect.port)):
        assert (
            f"127.0.0.1:{port}" in lines[name] and " up " in lines[name] and "(pid " in lines[name]
        )
    assert "not managed" in lines["kafka"]


def test_a_table_changed_during_debeziums_snapshot_ends_equal_in_both_stores(
    services: Services, stack: DebeziumStack, tmp_path: Path
) -> None:
    database, connect = stack.database, stack.connect
    suffix = uuid.uuid4().hex[:8]
    table, prefix = f"users_{suffix}", f"app{suffix}"
    database.psql(
        f"CREATE TABLE {table} (id int PRIMARY KEY, name text NOT NULL, score numeric(10,2),"
        f" {EXTRA_COLUMNS});"
        f"INSERT INTO {table} SELECT g, 'n' || g, g * 1.5, g % 2 = 0, g / 3.0::float8"
        f" FROM generate_series(1, {ROWS}) g"
    )
    users = users_of(f"{prefix}.public.{table}", f"users-{suffix}")
    web = {"web_enabled": True, "web_port": free_port()}
    settings = stack.settings.model_copy(update={"tables": {"users": users}, **web})
    topic = users.feed_topic(settings.topic)
    kept = {"cleanup.policy": "delete"}  # as the connector creates it
    asyncio.run(ensure_topics(Kafka.of(settings.kafka), [TopicSpec(topic, 2, 1, kept)]))
    worker = WorkerProcess(services, settings, tmp_path / "worker.log")
    worker.start()
    rng = random.Random(17)
    try:
        known = list(range(1, ROWS + 1))  # every id the table ever held
        during = _changes(table, rng, 150, known)
        changing = run_script(database, tmp_path / "during.sql", during)
        time.sleep(0.3)  # the changes have begun: the snapshot races them
        config = postgres_connector(database.port, prefix, [f"public.{table}"], f"cdc_{suffix}")
        connect.put_connector(prefix, config)
        assert changing.wait(60) == 0
        assert wait_until(lambda: _running(connect, prefix), 60), connect.connector_state(prefix)
        assert wait_until(lambda: _snapshot_done(settings, topic), 60), "no snapshot's end"
        # More once the snapshot is over, however long the connector took to start.
        later = _changes(table, rng, 30, known)
        assert run_script(database, tmp_path / "after.sql", later).wait(60) == 0
        final = numbers.loads(  # exact numbers, as the stores hold them
            database.psql(
                f"SELECT json_object_agg(id, json_build_object('name', name, 'score',"
                f" score::text, 'ok', ok, 'ratio', ratio, 'big', big, 'tags', tags::text,"
                f" 'body', body)) FROM {table}"
            )
        )
        expected = {str(i): final.get(str(i)) for i in known}
        assert len(final) > ROWS // 2 and len(expected) > len(final)  # deletes and inserts ran
        assert wait_until(lambda: _stores_hold(settings, expected), 120, interval=1), (
            worker.log_tail()
        )
        assert worker.alive()
        _assert_the_snapshot_raced_the_changes(settings, topic)
        assert wait_until(
            lambda: _lag_by_topic(stack, settings) == {topic: 0, settings.topic: 0}, 30
        )
        assert wait_until(lambda: _exports_lag_of(settings, topic), 30), "no Debezium topic lag"
        _assert_verify_finds_drift_only_once_made(stack, settings, sorted(final, key=int))
    finally:
        worker.stop()
        _drop(connect, database, prefix, suffix)


def test_drift_and_a_truncate_are_named_by_verify_and_one_repair_heals_both_stores(
    services: Services, stack: DebeziumStack, tmp_path: Path
) -> None:
    """A row changed and one removed behind the worker in DynamoDB, then `TRUNCATE`: verify
    --source postgres names each item (exit 1), and one `--repair` run leaves both stores equal
    to the table and to each other."""
    database, connect = stack.database, stack.connect
    suffix = uuid.uuid4().hex[:8]
    table, prefix = f"people_{suffix}", f"tr{suffix}"
    database.psql(
        f"CREATE TABLE {table} (id int PRIMARY KEY, name text, score numeric(10,2));"
        f"INSERT INTO {table} SELECT g, 'n' || g, g * 1.5 FROM generate_series(1, 4) g"
    )
    users = users_of(f"{prefix}.public.{table}", f"people-{suffix}")
    own = services.settings()  # a changes topic, group and Redis prefix of this test's own
    fresh = {name: getattr(own, name) for name in ("topic", "group_id", "redis_key_prefix")}
    settings = stack.settings.model_copy(update={"tables": {"users": users}, **fresh})
    topic = users.feed_topic(settings.topic)
    kept = {"cleanup.policy": "delete"}  # compacted, it would refuse the truncate (no key)
    asyncio.run(ensure_topics(Kafka.of(settings.kafka), [TopicSpec(topic, 1, 1, kept)]))
    worker = WorkerProcess(services, settings, tmp_path / "worker.log")
    worker.start()
    try:
        config = postgres_connector(database.port, prefix, [f"public.{table}"], f"cdc_{suffix}")
        connect.put_connector(prefix, config)
        rows: dict[str, dict[str, Any] | None] = {
            str(i): {"name": f"n{i}", "score": f"{i * 1.5:.2f}"} for i in range(1, 5)
        }
        assert wait_until(lambda: _stores_hold(settings, rows), 120, interval=1), worker.log_tail()
        asyncio.run(_write_behind(settings, "dynamodb", "1", {"name": "drifted", "score": "0"}))
        dynamodb_client(settings.dynamodb).delete_item(
            TableName=users.physical_name("users"), Key={"user_id": {"S": "2"}}
        )  # gone without a trace: the repair must still give both stores one version
        shown = _verify_text(stack, settings, "dynamodb")
        assert shown.returncode == 1, shown.stdout + shown.stderr
        assert 'data_differs: ["users", "1", ""]' in shown.stdout, shown.stdout
        assert 'missing_in_dynamodb: ["users", "2", ""]' in shown.stdout, shown.stdout
        report = _verify(stack, settings, "dynamodb")
        assert report["samples"]["data_differs"][0]["postgres"]["data"] == rows["1"], report
        _repair_once_then_all_agree(stack, settings, "dynamodb", rows)

        database.psql(f"TRUNCATE {table}")
        assert wait_until(lambda: _truncate_letter(settings, table), 60), (
            connect.connector_state(prefix),  # a compacted topic fails the task: no key
            worker.log_tail(),
        )
        shown = _verify_text(stack, settings, "redis")
        assert shown.returncode == 1, shown.stdout + shown.stderr
        assert "missing_in_postgres 4" in shown.stdout, shown.stdout
        assert 'missing_in_postgres: ["users", "3", ""]' in shown.stdout, shown.stdout
        gone: dict[str, dict[str, Any] | None] = dict.fromkeys(rows)
        _repair_once_then_all_agree(stack, settings, "redis", gone)
    finally:
        worker.stop()
        _drop(connect, database, prefix, suffix)


def _verify_text(
    stack: DebeziumStack, settings: Settings, store: str, *more: str
) -> "subprocess.CompletedProcess[str]":
    argv = ["verify", "--source", "postgres", "--store", store, "--table", "users", *more]
    return stack.cli(*argv, settings=settings)


def _repair_once_then_all_agree(
    stack: DebeziumStack, settings: Settings, store: str, rows: dict[str, dict[str, Any] | None]
) -> None:
    """One `verify --source postgres --repair`; once the worker applied it, both stores equal
    the table and store-vs-store `verify` finds no drift (not even of versions)."""
    repaired = _verify_text(stack, settings, store, "--repair")
    assert repaired.returncode == 1 and "republished" in repaired.stdout, repaired.stdout
    assert wait_until(lambda: _stores_hold(settings, rows), 60, interval=1)
    both = stack.cli("verify", "--table", "users", settings=settings)
    assert both.returncode == 0, both.stdout + both.stderr
    for name in ("redis", "dynamodb"):
        assert _verify(stack, settings, name)["agree"]


def _truncate_letter(settings: Settings, table: str) -> bool:
    letters = asyncio.run(read_topic(settings, settings.dlq_topic, 10, wait_seconds=1))
    return any(
        headers.get("cdc.error.reason") == "truncate"
        and f"public.{table}' was truncated" in headers.get("cdc.error.message", "")
        for _, headers in letters
    )


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


def _assert_verify_finds_drift_only_once_made(
    stack: DebeziumStack, settings: Settings, live_ids: list[str]
) -> None:
    """`verify --source postgres` finds both stores equal to the table; then one item changed
    behind the worker's back in Redis, one deleted in DynamoDB, each reported as drift."""
    for store in ("redis", "dynamodb"):
        report = _verify(stack, settings, store)
        assert (report["agree"], report["counts"]["compared"]) == (True, len(live_ids)), report
    changed, deleted = live_ids[0], live_ids[-1]
    asyncio.run(_write_behind(settings, "redis", changed, {"name": "drifted", "score": "0.00"}))
    asyncio.run(_write_behind(settings, "dynamodb", deleted, None))
    redis, dynamodb = _verify(stack, settings, "redis"), _verify(stack, settings, "dynamodb")
    assert redis["counts"] == {"compared": len(live_ids), "data_differs": 1}, redis
    assert dynamodb["counts"] == {"compared": len(live_ids), "missing_in_dynamodb": 1}, dynamodb


def _verify(stack: DebeziumStack, settings: Settings, store: str) -> dict[str, Any]:
    argv = ["verify", "--source", "postgres", "--store", store, "--table", "users", "--json"]
    done = stack.cli(*argv, settings=settings)
    [report] = json.loads(done.stdout)
    assert done.returncode == (0 if report["agree"] else 1), done.stderr
    return dict(report)


async def _write_behind(
    settings: Settings, store_name: str, user_id: str, data: dict[str, Any] | None
) -> None:
    """An upsert of `data` (None: a delete) newer than anything the table sent."""
    op = "upsert" if data is not None else "delete"
    fields = {"table": "users", "op": op, "key": {"user_id": user_id}, "data": data,
              "ts": 2**52, "origin": "test", "event_id": "drift"}  # fmt: skip
    event = build_event(fields, settings.tables)
    store = open_store(settings, store_name)
    try:
        item = ItemId.of("users", event.key, settings.tables["users"])
        outcome = await store.write({item: event})
        assert outcome.applied == 1, outcome
    finally:
        await store.close()


def _lag_by_topic(stack: DebeziumStack, settings: Settings) -> dict[str, int]:
    """`lag`'s messages per topic it watched, summed over the stores' groups."""
    done = stack.cli("lag", "--json", "--samples", "1", settings=settings)
    lags: dict[str, int] = {}
    for group in json.loads(done.stdout)["groups"]:
        lags[group["topic"]] = lags.get(group["topic"], 0) + group["lag"]
    return lags


def _exports_lag_of(settings: Settings, topic: str) -> bool:
    """The worker's metrics and /lag show the Debezium topic's lag, as the changes topic's."""
    base = f"http://127.0.0.1:{settings.web_port}"
    metrics = fetch(f"{base}/metrics").decode()
    shown = json.loads(fetch(f"{base}/lag"))
    topics = {p["topic"] for group in shown["groups"] for p in group["partitions"]}
    return f'topic="{topic}"' in metrics and topics == {topic, settings.topic}
