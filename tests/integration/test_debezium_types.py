"""Every PostgreSQL type family through the real connector: the stores hold the one encoding
the PostgreSQL reader gives, `verify --source postgres` is exact and repairs a drift in any
column, a table keyed by a date and a uuid works, and records the worker cannot decode
exactly are dead letters naming the setting to change."""

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.sources.postgres import PostgresSource
from connectors.sources.snapshot_source import SourceItem
from streams.devstack.connect import postgres_connector
from streams.devstack.process import wait_until
from streams.kafka.clients import Kafka
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.model.events import ItemId, build_event
from streams.model.tables import TableSpec
from streams.settings import Settings
from streams.stores import dynamodb_client, open_store
from tests.conftest import Services
from tests.support.debezium import DebeziumStack, debezium_stack
from tests.support.worker import WorkerProcess, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]
COLUMNS = """id int PRIMARY KEY, i2 smallint, i8 bigint, n numeric, n2 numeric(10,2), f4 real,
  f8 double precision, m money, c5 char(5), tx text, u uuid, j json, jb jsonb, b bytea,
  bo boolean, bt bit(3), vb varbit, d date, t time, ttz timetz, ts timestamp, tstz timestamptz,
  tstz3 timestamptz(3), iv interval, ai int[], at text[], ad date[], atz timestamptz[],
  e {enum}, ae {enum}[], hs hstore, ip inet, r int4range, pt point"""
ROWS = """INSERT INTO {table} SELECT g, g - 20, g * 1000000000000, (g * 1.5)::numeric, g * 0.25,
  g / 3.0, g / 7.0, g * 1.05, 'c' || g, 'text ' || g || ' {{x}} 50%', md5(g::text)::uuid,
  json_build_object('g', g), jsonb_build_object('g', g, 'v', 2.50), decode(md5(g::text), 'hex'),
  g % 2 = 0, (g % 8)::bit(3), g::bit(9)::varbit, date '2023-12-06' + g,
  time '12:34:56.789' + g * interval '1 minute', timetz '12:34:56.7+02',
  timestamp '2023-12-06 12:34:56.789012' + g * interval '1 hour',
  timestamptz '2023-12-06 12:34:56.5+02' + g * interval '1 day',
  timestamptz '2023-12-06 12:34:56.7+02', make_interval(months => g, days => -g, secs => g * 1.5),
  ARRAY[g, NULL, -g], ARRAY['a b', NULL, '{{x}}'], ARRAY[date '2023-12-06' + g, NULL],
  ARRAY[timestamptz '2023-12-06 12:00+02'], 'a b', '{{ok,"a b"}}',
  hstore(ARRAY['z', 'a', 'x y'], ARRAY[g::text, NULL, '{{x}}']), ('10.0.0.' || g)::inet,
  int4range(g, g + 5), point(g * 1.5, -g)
  FROM generate_series(1, 40) g; INSERT INTO {table} (id) VALUES (41)"""
# Streamed after the snapshot: odd values (BC dates only here: Debezium's snapshot reads them
# in the Julian calendar), a 20-key hstore (the order of a resized Java HashMap), a delete.
CHANGES = """
UPDATE {table} SET n = 'NaN', f4 = 'NaN', f8 = '-Infinity', d = 'infinity', ts = '-infinity',
  tstz = 'infinity', t = '24:00:00', c5 = ' a', tx = '', ai = '{{}}', m = -92233720368547758.08,
  iv = '-1 mons +2 days -00:00:01', ttz = '23:59:59.999999-12', vb = B'000' WHERE id = 2;
UPDATE {table} SET d = '0044-03-15 BC', ts = '0044-03-15 12:00 BC', n = 'Infinity', n2 = -0.5,
  tstz = '4713-01-01 00:00+00 BC', f8 = -0, f4 = 1e-45, i8 = 9223372036854775807 WHERE id = 3;
UPDATE {table} SET hs = hstore(ARRAY(SELECT 'k' || i FROM generate_series(1, 20) i),
  ARRAY(SELECT i::text FROM generate_series(1, 20) i)), f8 = 1.5e100 WHERE id = 4;
DELETE FROM {table} WHERE id = 5;
INSERT INTO {table} (id, d, tx) VALUES (42, '2000-02-29', 'late');
"""
DAYS = """CREATE TABLE {table} (day date, ref uuid, v text, PRIMARY KEY (day, ref));
INSERT INTO {table} VALUES ('2023-12-06', md5('a')::uuid, 'a'), ('infinity', md5('b')::uuid,
  'b'), ('1970-01-01', md5('c')::uuid, 'c')"""
DAYS_CHANGES = """INSERT INTO {table} VALUES ('2000-02-29', md5('d')::uuid, 'd'),
  ('0044-03-15 BC', md5('e')::uuid, 'e'); UPDATE {table} SET v = 'a2' WHERE v = 'a'"""

DEFAULTS_TABLES = """CREATE TABLE {plain} (id int PRIMARY KEY, n2 numeric(10,2), m money,
  d date, ts timestamp(3), t time, tstz timestamptz, f8 float8, wide numeric(40,2));
INSERT INTO {plain} VALUES (1, 1.50, 12.34, '2023-12-06', '2023-12-06 12:34:56.789',
  '12:34:56.789012', '2023-12-06 12:34:56+02', 0.1, 12345678901234567890123456789012345678.91),
  (2, NULL, NULL, 'infinity', 'infinity', NULL, '-infinity', 'NaN', -0.01);
CREATE TABLE {loose} (id int PRIMARY KEY, n numeric, iv interval);
INSERT INTO {loose} VALUES (1, 1.50, NULL), (2, NULL, '1 mon')"""


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[DebeziumStack]:
    with debezium_stack(services) as debezium:
        debezium.database.psql("CREATE EXTENSION IF NOT EXISTS hstore")
        yield debezium


class Tables:
    """One test's PostgreSQL tables, their declarations and the settings naming them."""

    def __init__(self, services: Services, stack: DebeziumStack, prefix: str) -> None:
        self.prefix, self.stack = prefix, stack
        self.declared: dict[str, TableSpec] = {}
        own = services.settings()  # a changes topic, group and Redis prefix of the test's own
        self.fresh = {k: getattr(own, k) for k in ("topic", "group_id", "redis_key_prefix")}

    def declare(self, name: str, relation: str, key: str, sort: str | None = None) -> None:
        self.declared[name] = TableSpec.model_validate({
            "partition_key": key, "sort_key": sort, "format": "debezium",
            "source": f"{self.prefix}.public.{relation}",
            "dynamodb_table": f"{name}-{uuid.uuid4().hex[:8]}",
        })  # fmt: skip

    @property
    def settings(self) -> Settings:
        return self.stack.settings.model_copy(update={"tables": self.declared, **self.fresh})

    def start_worker(self, services: Services, log: Path) -> WorkerProcess:
        settings = self.settings
        topics = [TopicSpec(s.feed_topic(settings.topic), 1, 1, {"cleanup.policy": "delete"})
                  for s in self.declared.values()]  # fmt: skip
        asyncio.run(ensure_topics(Kafka.of(settings.kafka), topics))
        worker = WorkerProcess(services, settings, log)
        worker.start()
        return worker


def test_every_type_family_is_stored_as_the_table_reads_and_a_drift_in_any_column_is_repaired(
    services: Services, stack: DebeziumStack, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    kinds, days, prefix = f"kinds_{suffix}", f"days_{suffix}", f"ty{suffix}"
    database, connect = stack.database, stack.connect
    database.psql(f"CREATE TYPE mood_{suffix} AS ENUM ('sad', 'ok', 'a b');"
                  f"CREATE TABLE {kinds} ({COLUMNS.format(enum=f'mood_{suffix}')});"
                  f"{ROWS.format(table=kinds)}; {DAYS.format(table=days)}")  # fmt: skip
    tables = Tables(services, stack, prefix)
    tables.declare("kinds", kinds, "id")
    tables.declare("days", days, "day", "ref")
    settings = tables.settings
    worker = tables.start_worker(services, tmp_path / "worker.log")
    try:
        config = postgres_connector(
            database.port, prefix, [f"public.{kinds}", f"public.{days}"], f"cdc_{suffix}"
        )
        connect.put_connector(prefix, config)
        assert wait_until(lambda: _stores_equal_table(settings, "kinds", 41), 120, interval=1), (
            worker.log_tail()
        )
        database.psql(CHANGES.format(table=kinds) + DAYS_CHANGES.format(table=days))
        assert wait_until(lambda: _stores_equal_table(settings, "kinds", 41), 60, interval=1), (
            worker.log_tail()
        )
        assert wait_until(lambda: _stores_equal_table(settings, "days", 5), 60, interval=1)
        _assert_values_as_written_by_hand(settings)
        for store in ("redis", "dynamodb"):
            for table, rows in (("kinds", 41), ("days", 5)):
                report = _verify(stack, settings, store, table)
                assert report["counts"] == {"compared": rows}, report
                assert not report.get("source_problems"), report
        planted = _plant_a_drift_in_each_column(settings)
        _repair_each_store_once(stack, settings, "kinds", planted)
        _date_keys_drift_and_repair(stack, settings)
        assert worker.alive()
    finally:
        worker.stop()
        drop_connector(stack, prefix, f"cdc_{suffix}")


def _assert_values_as_written_by_hand(settings: Settings) -> None:
    """What the stores hold for a few rows, written out (a second implementation)."""
    infinite = _held(settings, "kinds", {"id": "2"})
    assert {k: infinite[k] for k in ("n", "f4", "f8", "d", "ts", "tstz", "t", "c5", "iv")} == {
        "n": "NAN", "f4": "NaN", "f8": "-Infinity", "d": "infinity", "ts": "-infinity",
        "tstz": "infinity", "t": "24:00:00", "c5": " a   ", "iv": "P0Y-1M2DT0H0M-1S",
    }  # fmt: skip
    assert (infinite["tx"], infinite["ai"], infinite["ttz"]) == ("", [], "11:59:59.999999Z")
    ancient = _held(settings, "kinds", {"id": "3"})
    assert (ancient["d"], ancient["ts"], ancient["tstz"], ancient["f8"]) == (
        "-0043-03-15",
        "-0043-03-15T12:00:00",
        "-4712-01-01T00:00:00.000000Z",
        0,
    )
    first = _held(settings, "kinds", {"id": "1"})
    assert (first["n2"], first["m"], first["d"], first["bt"], first["vb"], first["e"]) == (
        "0.25",
        "1.05",
        "2023-12-07",
        "AQ==",
        "AQ==",
        "a b",
    )
    assert (first["ts"], first["tstz3"], first["ad"]) == (
        "2023-12-06T13:34:56.789012",
        "2023-12-06T10:34:56.700Z",
        ["2023-12-07", None],
    )
    assert first["hs"] == '{"x y":"{x}","a":null,"z":"1"}'
    assert _held(settings, "days", {"day": "infinity", "ref": str(uuid.UUID(_md5("b")))})


def _plant_a_drift_in_each_column(settings: Settings) -> dict[str, int]:
    """Row 6 + k gets column k changed behind the worker, in DynamoDB for even k, in Redis
    for odd k; how many items each store then holds wrong."""
    rows = _table_items(settings, "kinds")
    columns = [c for c in rows["1"].data if c != "id"]
    planted = {"redis": 0, "dynamodb": 0}
    for k, column in enumerate(columns):
        row = rows[str(6 + k)]
        store = "dynamodb" if k % 2 == 0 else "redis"
        asyncio.run(_write_behind(settings, store, "kinds", row.key, {**row.data, column: "x"}))
        planted[store] += 1
    return planted


def _repair_each_store_once(
    stack: DebeziumStack, settings: Settings, table: str, planted: dict[str, int]
) -> None:
    for store, count in planted.items():
        found = _verify(stack, settings, store, table)
        assert found["counts"].get("data_differs") == count, found
        repaired = stack.cli(*_verify_argv(store, table), "--repair", settings=settings)
        assert repaired.returncode == 1 and "republished" in repaired.stdout, repaired.stdout
    assert wait_until(lambda: _stores_equal_table(settings, table, 41), 60, interval=1)
    for store in planted:
        assert _verify(stack, settings, store, table)["agree"]
    both = stack.cli("verify", "--table", table, settings=settings)
    assert both.returncode == 0, both.stdout + both.stderr


def _date_keys_drift_and_repair(stack: DebeziumStack, settings: Settings) -> None:
    """A date and uuid key: an item removed from DynamoDB and one changed in Redis come back
    in one repair each, under the same keys (no second item under another key text)."""
    spec = settings.tables["days"]
    gone = {"day": {"S": "2023-12-06"}, "ref": {"S": str(uuid.UUID(_md5("a")))}}
    dynamodb = dynamodb_client(settings.dynamodb)
    dynamodb.delete_item(TableName=spec.physical_name("days"), Key=gone)
    changed = {"day": "-0043-03-15", "ref": str(uuid.UUID(_md5("e")))}
    asyncio.run(_write_behind(settings, "redis", "days", changed, {"v": "drifted"}))
    _repair_each_store_once_days(stack, settings)
    count = dynamodb.scan(TableName=spec.physical_name("days"), Select="COUNT")["Count"]
    assert count == 5


def _repair_each_store_once_days(stack: DebeziumStack, settings: Settings) -> None:
    expected = {"dynamodb": "missing_in_dynamodb", "redis": "data_differs"}
    for store, kind in expected.items():
        found = _verify(stack, settings, store, "days")
        assert found["counts"].get(kind) == 1, found
        repaired = stack.cli(*_verify_argv(store, "days"), "--repair", settings=settings)
        assert repaired.returncode == 1, repaired.stdout + repaired.stderr
    assert wait_until(lambda: _stores_equal_table(settings, "days", 5), 60, interval=1)


def test_records_the_worker_cannot_decode_exactly_are_letters_naming_the_setting(
    services: Services, stack: DebeziumStack, tmp_path: Path
) -> None:
    """Debezium's defaults (precise decimals, microsecond intervals): a table of constrained
    numerics, dates and times is stored exactly as under docs/debezium.md's config; an unconstrained
    numeric or an interval is a letter naming the setting; with schemas off, every record is."""
    suffix = uuid.uuid4().hex[:8]
    plain, loose, prefix, off = f"plain_{suffix}", f"loose_{suffix}", f"df{suffix}", f"so{suffix}"
    database, connect = stack.database, stack.connect
    database.psql(DEFAULTS_TABLES.format(plain=plain, loose=loose))
    tables = Tables(services, stack, prefix)
    tables.declare("plain", plain, "id")
    tables.declare("loose", loose, "id")
    tables.prefix = off
    tables.declare("schemaless", plain, "id")
    settings = tables.settings
    worker = tables.start_worker(services, tmp_path / "worker.log")
    try:
        defaults = postgres_connector(
            database.port, prefix, [f"public.{plain}", f"public.{loose}"], f"cdc_{suffix}"
        )
        for setting in ("decimal.handling.mode", "interval.handling.mode"):
            defaults.pop(setting)
        connect.put_connector(prefix, defaults)
        schemaless = postgres_connector(database.port, off, [f"public.{plain}"], f"off_{suffix}")
        schemaless |= {"value.converter": "org.apache.kafka.connect.json.JsonConverter",
                       "value.converter.schemas.enable": "false"}  # fmt: skip
        connect.put_connector(off, schemaless)
        assert wait_until(lambda: _stores_equal_table(settings, "plain", 2), 120, interval=1), (
            worker.log_tail()
        )
        for store in ("redis", "dynamodb"):
            assert _verify(stack, settings, store, "plain")["counts"] == {"compared": 2}
        assert wait_until(lambda: len(_letters(settings)) >= 4, 60), _letters(settings)
        letters = sorted(_letters(settings))
        wanted = [("schema", "set value.converter.schemas.enable=true"),
                  ("schema", "set value.converter.schemas.enable=true"),
                  ("undecodable", "column 'iv': interval.handling.mode=numeric"),
                  ("undecodable", "column 'n': decimal.handling.mode=precise")]  # fmt: skip
        assert len(letters) == len(wanted), letters
        for (reason, message), (expected, words) in zip(letters, wanted, strict=True):
            assert reason == expected and words in message, letters
        assert letters[2][1].endswith("set interval.handling.mode=string"), letters
        assert letters[3][1].endswith("set decimal.handling.mode=string"), letters
    finally:
        worker.stop()
        drop_connector(stack, prefix, f"cdc_{suffix}")
        drop_connector(stack, off, f"off_{suffix}")


def _letters(settings: Settings) -> list[tuple[str, str]]:
    """Each dead letter's reason and message."""
    letters = asyncio.run(read_topic(settings, settings.dlq_topic, 100, wait_seconds=1))
    return [(h.get("cdc.error.reason", ""), h.get("cdc.error.message", "")) for _, h in letters]


def _table_items(settings: Settings, table: str) -> dict[str, SourceItem]:
    """The table's rows as the PostgreSQL reader gives them, by partition key."""

    async def read() -> dict[str, SourceItem]:
        spec = settings.tables[table]
        source = PostgresSource(settings.postgres_url, table, spec)
        items: dict[str, SourceItem] = {}
        try:
            async for chunk in source.chunks(None):
                assert not chunk.problems, chunk.problems
                items.update((json.dumps(i.key, sort_keys=True), i) for i in chunk.items)
        finally:
            await source.close()
        if spec.sort_key is None:
            return {i.key[spec.partition_key]: i for i in items.values()}
        return items

    return asyncio.run(read())


def _stores_equal_table(settings: Settings, table: str, rows: int) -> bool:
    """Both stores hold each row of the table as the reader gives it, and no other item."""
    items = list(_table_items(settings, table).values())
    if len(items) != rows:
        return False

    async def check() -> bool:
        for name in ("redis", "dynamodb"):
            store = open_store(settings, name)
            try:
                for item in items:
                    if await store.get(table, item.key) != {**item.key, **item.data}:
                        return False
                held = [i async for page in store.item_pages(table) for i, h in page if h.live]
                if len(held) != len(items):
                    return False
            finally:
                await store.close()
        return True

    return asyncio.run(check())


def _held(settings: Settings, table: str, key: dict[str, str]) -> dict[str, Any]:
    """The item as each store gives it back; both must agree."""

    async def read() -> list[Any]:
        found = []
        for name in ("redis", "dynamodb"):
            store = open_store(settings, name)
            try:
                found.append(await store.get(table, key))
            finally:
                await store.close()
        return found

    redis, dynamodb = asyncio.run(read())
    assert redis == dynamodb and redis is not None, (redis, dynamodb)
    return dict(redis)


async def _write_behind(
    settings: Settings, store_name: str, table: str, key: dict[str, str], data: dict[str, Any]
) -> None:
    """An upsert newer than anything the table sent, straight into one store."""
    fields = {"table": table, "op": "upsert", "key": key, "data": data,
              "ts": 2**52, "origin": "test", "event_id": f"drift{time.monotonic_ns()}"}  # fmt: skip
    event = build_event(fields, settings.tables)
    store = open_store(settings, store_name)
    try:
        item = ItemId.of(table, event.key, settings.tables[table])
        assert (await store.write({item: event})).applied == 1
    finally:
        await store.close()


def _verify_argv(store: str, table: str) -> list[str]:
    return ["verify", "--source", "postgres", "--store", store, "--table", table]


def _verify(stack: DebeziumStack, settings: Settings, store: str, table: str) -> dict[str, Any]:
    done = stack.cli(*_verify_argv(store, table), "--json", settings=settings)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    [report] = json.loads(done.stdout)
    return dict(report)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 -- PostgreSQL's md5(), as a uuid


def drop_connector(stack: DebeziumStack, name: str, slot: str) -> None:
    """Stop the connector, then drop its slot so PostgreSQL keeps no WAL for it."""
    stack.connect.request("DELETE", f"/connectors/{name}")
    query = f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}' AND active"  # noqa: S608
    wait_until(lambda: not stack.database.json(query), 30)
    stack.database.psql(f"SELECT pg_drop_replication_slot('{slot}')")
