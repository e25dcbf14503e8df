"""TOASTed values through the real PostgreSQL -> Debezium -> worker -> both stores: a table with
the default REPLICA IDENTITY whose large values (text, jsonb, bytea, text[], int[]) an UPDATE
leaves unchanged. Debezium sends a placeholder for each (a custom one here, read from Kafka
Connect or declared); the stores keep the values they hold, a primary-key change's new item
holds none until `verify --source postgres --repair` fills it, and the stores then equal the
table, as psql reads it, through later updates."""

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis

from streams.devstack.connect import postgres_connector
from streams.devstack.process import free_port, wait_until
from streams.kafka.clients import Kafka
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.model import numbers
from streams.model.redis_layout_spec import RedisLayoutSpec
from streams.model.tables import TableSpec
from streams.settings import Settings
from streams.stores import dynamodb_client
from tests.conftest import Services
from tests.support.debezium import BIG_TEXT, DebeziumStack, debezium_stack
from tests.support.debezium import drop_connector as _drop
from tests.support.debezium import running as _running
from tests.support.debezium import stores_hold as _stores_hold
from tests.support.worker import WorkerProcess, fetch

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PLACEHOLDER = "«toast»"
COLUMNS = (
    "id int PRIMARY KEY, counter int, body text, doc jsonb, blob bytea, words text[], nums int[]"
)
ROW = ("{id}, 0, big_text(), jsonb_build_object('k', big_text()), decode(big_text(), 'hex'),"
       " ARRAY[big_text(), 'a b'], ARRAY(SELECT (random() * 2e9)::int"
       " FROM generate_series(1, 3000))")  # fmt: skip
# What psql reads, as the stores hold it: jsonb as its text, bytea as base64 (Debezium's).
READ = ("SELECT json_object_agg(id, json_build_object('counter', counter, 'body', body, 'doc',"
        " doc::text, 'blob', translate(encode(blob, 'base64'), E'\\n', ''), 'words', words,"
        " 'nums', nums)) FROM {table}")  # fmt: skip
LAYOUTS = {"cdc": RedisLayoutSpec(), "hash": RedisLayoutSpec(layout="hash"),
           "json": RedisLayoutSpec(layout="template")}  # fmt: skip
FORMS = [
    PLACEHOLDER,
    base64.b64encode(PLACEHOLDER.encode()).decode(),  # text, bytea's base64,
    "[-62,-85,116,111,97,115,116,-62,-69]",
    "__debezium_unavailable_value",
]  # int[]'s bytes


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[DebeziumStack]:
    with debezium_stack(services) as debezium:
        debezium.database.psql(BIG_TEXT)
        yield debezium


@pytest.mark.parametrize("read_from", ["connect", "declaration"])
def test_toasted_values_are_kept_never_the_placeholder_and_a_new_key_is_repaired(
    services: Services, stack: DebeziumStack, tmp_path: Path, read_from: str
) -> None:
    database, connect = stack.database, stack.connect
    suffix = uuid.uuid4().hex[:8]
    table, prefix = f"docs_{suffix}", f"to{suffix}"
    database.psql(
        f"CREATE TABLE {table} ({COLUMNS});"
        + "".join(f"INSERT INTO {table} VALUES ({ROW.format(id=i)});" for i in (1, 2, 3))
    )
    declared = PLACEHOLDER if read_from == "declaration" else None
    tables = {  # one source fanned out to a table per Redis layout
        f"{kind}_{suffix}": TableSpec(
            partition_key="id", format="debezium", source=f"{prefix}.public.{table}",
            redis=layout, unavailable_value_placeholder=declared,
        )
        for kind, layout in LAYOUTS.items()
    }  # fmt: skip
    own = services.settings()  # a changes topic, group and Redis prefix of this test's own
    fresh = {k: getattr(own, k) for k in ("topic", "group_id", "redis_key_prefix")}
    connect_url = stack.settings.connect_url if read_from == "connect" else ""
    settings = stack.settings.model_copy(
        update={"tables": tables, "connect_url": connect_url, "web_enabled": True,
                "web_port": free_port(), **fresh}
    )  # fmt: skip
    topic = tables[f"cdc_{suffix}"].feed_topic(settings.topic)
    asyncio.run(ensure_topics(Kafka.of(settings.kafka),
                              [TopicSpec(topic, 1, 1, {"cleanup.policy": "delete"})]))  # fmt: skip
    config = postgres_connector(database.port, prefix, [f"public.{table}"], f"cdc_{suffix}")
    config["unavailable.value.placeholder"] = PLACEHOLDER
    connect.put_connector(prefix, config)  # before the worker: it reads the placeholder then
    assert wait_until(lambda: _running(connect, prefix), 60), connect.connector_state(prefix)
    worker = WorkerProcess(services, settings, tmp_path / "worker.log")
    worker.start()
    try:
        rows = _table(stack, table)
        assert wait_until(lambda: _all_hold(settings, rows), 120, interval=1), worker.log_tail()
        _assert_no_placeholder_stored(settings)
        database.psql(
            f"UPDATE {table} SET counter = counter + 1;"  # every large value left unchanged
            f"UPDATE {table} SET body = 'short now' WHERE id = 2;"
            f"UPDATE {table} SET counter = counter + 1 WHERE id = 2;"
            f"UPDATE {table} SET id = 10 WHERE id = 3"  # the new key's row: placeholders only
        )
        rows = {**_table(stack, table), "3": None}
        holes = {**rows, "10": {"counter": 1}}  # the new item holds what the change carried
        assert wait_until(lambda: _all_hold(settings, holes), 120, interval=1), worker.log_tail()
        _assert_no_placeholder_stored(settings)
        assert "REPLICA IDENTITY FULL" in worker.log.read_text()
        assert "cdc_items_without_values_total" in worker.log.read_text()
        metrics = fetch(f"http://127.0.0.1:{settings.web_port}/metrics").decode()
        for store in ("redis", "dynamodb"):  # the new item, in each of the three tables
            assert f'cdc_items_without_values_total{{store="{store}"}} 3.0' in metrics, metrics
        if read_from == "declaration":
            return  # where the placeholder is read from changes nothing of the repair below
        for name in tables:  # named by verify in each store; one repair fills both
            for store in ("redis", "dynamodb"):
                report = _verify(stack, settings, store, name)
                drift = report["samples"]["data_differs"]
                assert report["counts"]["data_differs"] == 1 and drift[0]["key"][1] == "10"
            repaired = stack.cli(*_argv("redis", name), "--repair", settings=settings)
            assert repaired.returncode == 1 and "republished 1" in repaired.stdout, repaired.stdout
        assert wait_until(lambda: _all_hold(settings, rows), 60, interval=1), worker.log_tail()
        database.psql(f"UPDATE {table} SET counter = counter + 5")  # the repair stays
        rows = {**_table(stack, table), "3": None}
        assert wait_until(lambda: _all_hold(settings, rows), 60, interval=1), worker.log_tail()
        for name in tables:
            for store in ("redis", "dynamodb"):
                assert _verify(stack, settings, store, name)["agree"]
        _assert_no_placeholder_stored(settings)
    finally:
        worker.stop()
        _drop(connect, database, prefix, suffix)


def _table(stack: DebeziumStack, table: str) -> dict[str, Any]:
    return dict(numbers.loads(stack.database.psql(READ.format(table=table))))


def _all_hold(settings: Settings, rows: dict[str, Any]) -> bool:
    return all(_stores_hold(settings, rows, table=name, key="id") for name in settings.tables)


def _argv(store: str, table: str) -> list[str]:
    return ["verify", "--source", "postgres", "--store", store, "--table", table]


def _verify(stack: DebeziumStack, settings: Settings, store: str, table: str) -> dict[str, Any]:
    done = stack.cli(*_argv(store, table), "--json", settings=settings)
    [report] = json.loads(done.stdout)
    assert done.returncode == (0 if report["agree"] else 1), done.stdout + done.stderr
    return dict(report)


def _assert_no_placeholder_stored(settings: Settings) -> None:
    """No form of the placeholder anywhere in either store, read raw."""
    raw: Any = sync_redis.Redis.from_url(settings.redis_url)  # replies typed for both APIs
    patterns = [f"{settings.redis_key_prefix}:*", *(f"{name}:*" for name in settings.tables)]
    try:
        keys = [key for pattern in patterns for key in raw.scan_iter(match=pattern, count=1000)]
        assert keys
        for key in keys:
            kind = raw.type(key)
            values: list[bytes] = []
            if kind == b"hash":
                values = list(raw.hgetall(key).values())
            elif kind == b"string":
                values = [raw.get(key) or b""]
            text = b" ".join(values).decode(errors="replace")
            assert not any(form in text for form in FORMS), (key, text[:200])
    finally:
        raw.close()
    client = dynamodb_client(settings.dynamodb)
    try:
        for name, spec in settings.tables.items():
            pages = client.get_paginator("scan").paginate(TableName=spec.physical_name(name))
            for page in pages:
                for item in page["Items"]:
                    text = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
                    assert not any(form in text for form in FORMS), text[:300]
    finally:
        client.close()
