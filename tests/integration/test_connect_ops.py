"""Operating Debezium for real: the local Connect keeps its connectors across `stack down`/`up`
and a crash, replication resumes exactly (checked against PostgreSQL with `verify --source
postgres`); a connector paused, a task failed, a table with no connector and Connect down show
in the worker's /ready, /metrics and `lag`; `connector validate|add` name each error in one
line; PostgreSQL shutting down is not called a refused login.

PostgreSQL and Connect come from `cdc-replicator stack up --with-postgres` (tests/
tests/support/debezium.py), on ports and in a folder of this module's own.
"""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from streams.devstack.connect import postgres_connector
from streams.devstack.postgres import BIN, PostgresService
from streams.devstack.process import free_port, wait_until
from streams.kafka.clients import Kafka
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.model import numbers
from streams.model.tables import TableSpec
from streams.settings import Settings
from tests.conftest import Services
from tests.support.debezium import (
    DebeziumStack,
    debezium_stack,
    drop_connector,
    run_script,
    running,
    stores_hold,
    users_of,
)
from tests.support.worker import WorkerProcess, create_topics, fetch

pytestmark = [pytest.mark.integration, pytest.mark.slow]
Rows = dict[str, dict[str, Any] | None]


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[DebeziumStack]:
    with debezium_stack(services) as debezium:
        yield debezium


class Table:
    """A PostgreSQL table of this test's own, the connector that reads it and its declaration."""

    def __init__(self, stack: DebeziumStack, kind: str, rows: int = 0) -> None:
        self.stack, self.suffix = stack, uuid.uuid4().hex[:8]
        self.name, self.prefix = f"{kind}_{self.suffix}", f"{kind}{self.suffix}"
        self.source = f"{self.prefix}.public.{self.name}"
        self.spec = users_of(self.source, f"{kind}-{self.suffix}")
        self.known = list(range(1, rows + 1))  # every id the table ever held
        stack.database.psql(
            f"CREATE TABLE {self.name} (id int PRIMARY KEY, name text, score numeric(10,2));"
            f"INSERT INTO {self.name} SELECT g, CASE g % 3 WHEN 0 THEN 'user:' || g WHEN 1 "
            f"THEN 'a b' ELSE '{{x}} 50%' END, g * 1.5 FROM generate_series(1, {rows}) g"
        )

    def config(self, **changes: str) -> dict[str, str]:
        base = postgres_connector(
            self.stack.database.port, self.prefix, [f"public.{self.name}"], f"cdc_{self.suffix}"
        )
        return base | changes

    def config_file(self, folder: Path, **changes: str) -> str:
        path = folder / f"{self.prefix}.json"
        path.write_text(json.dumps({"name": self.prefix, "config": self.config(**changes)}))
        return str(path)

    def rows(self) -> Rows:
        """The table as the stores must hold it: every id it ever held, None when deleted."""
        held = numbers.loads(
            self.stack.database.psql(
                f"SELECT coalesce(json_object_agg(id, json_build_object('name', name, 'score',"
                f" score::text)), '{{}}') FROM {self.name}"
            )
        )
        return {str(i): held.get(str(i)) for i in self.known}

    def changes_script(self, count: int, tag: str) -> str:
        """Updates, deletes and inserts of new ids, 20 ms apart."""
        statements = []
        for i in range(count):
            row = self.known[(i * 7) % len(self.known)]
            if i % 5 == 3:
                statements.append(f"DELETE FROM {self.name} WHERE id = {row};")
            elif i % 5 == 4:
                self.known.append(max(self.known) + 1)
                statements.append(f"INSERT INTO {self.name} VALUES ({self.known[-1]}, '{tag}', 1);")
            else:
                statements.append(
                    f"UPDATE {self.name} SET name = '{tag}{i}', score = {i}.25 WHERE id = {row};"
                )
            statements.append("SELECT pg_sleep(0.02);")
        return "\n".join(statements) + "\n"

    def drop(self) -> None:
        connect, database = self.stack.connect, self.stack.database
        try:
            connect.request("GET", f"/connectors/{self.prefix}")
        except urllib.error.HTTPError:
            return  # never registered
        drop_connector(connect, database, self.prefix, self.suffix)


def watched_settings(stack: DebeziumStack, tables: dict[str, TableSpec]) -> Settings:
    """The stack's settings (CDC_CONNECT_URL set: the worker watches the connectors) with a
    changes topic, group, Redis prefix and web port of the test's own."""
    own = stack.services.settings()
    fresh = {name: getattr(own, name) for name in ("topic", "group_id", "redis_key_prefix")}
    web = {"web_enabled": True, "web_port": free_port(), "lag_refresh_seconds": 1.0}
    return stack.settings.model_copy(update={"tables": tables, **fresh, **web})


def start_worker(
    services: Services, settings: Settings, tmp_path: Path, tables: list[Table]
) -> WorkerProcess:
    # Created as the connector would create them: the worker reads them from its start.
    topics = [TopicSpec(t.source, 1, 1, {"cleanup.policy": "delete"}) for t in tables]
    asyncio.run(ensure_topics(Kafka.of(settings.kafka), topics))
    return WorkerProcess(services, settings, tmp_path / "worker.log").start()


def ready(settings: Settings) -> dict[str, Any]:
    """/ready's body; it answers 503 when failing, which this test never expects."""
    return dict(json.loads(fetch(f"http://127.0.0.1:{settings.web_port}/ready")))


def source_metric(settings: Settings, source: str) -> str | None:
    """The state cdc_source_connector gives `source` (its series at 1)."""
    metrics = fetch(f"http://127.0.0.1:{settings.web_port}/metrics").decode()
    for line in metrics.splitlines():
        if line.startswith(f'cdc_source_connector{{source="{source}"') and line.endswith(" 1.0"):
            return line.split('state="')[1].split('"')[0]
    return None


def assert_stores_equal_postgres(stack: DebeziumStack, settings: Settings, table: Table) -> None:
    """Both stores hold the table's rows, and `verify --source postgres` agrees (exit 0)."""
    expected = table.rows()
    assert wait_until(lambda: stores_hold(settings, expected), 120, interval=1)
    for store in ("redis", "dynamodb"):
        verify = stack.cli("verify", "--source", "postgres", "--store", store, "--table",
                           "users", "--json", settings=settings)  # fmt: skip
        [report] = json.loads(verify.stdout)
        assert verify.returncode == 0 and report["agree"], report
        assert report["counts"]["compared"] == sum(row is not None for row in expected.values())


def test_connect_keeps_its_connectors_across_a_restart_and_a_crash_and_nothing_is_lost(
    services: Services, stack: DebeziumStack, tmp_path: Path
) -> None:
    """Registered once with `connector add`; after `stack down`/`up`, and after Connect is
    SIGKILLed in the middle of a stream of changes and started again, the connector runs
    again by itself and both stores equal the table. Meanwhile the worker says Connect is
    unreachable, without failing its readiness."""
    table = Table(stack, "acct", rows=60)
    settings = watched_settings(stack, {"users": table.spec})
    worker = start_worker(services, settings, tmp_path, [table])
    try:
        added = stack.cli("connector", "add", table.config_file(tmp_path), settings=settings)
        assert added.returncode == 0, added.stdout + added.stderr
        assert f"connector {table.prefix} RUNNING, 1 task" in added.stdout
        assert_stores_equal_postgres(stack, settings, table)
        assert wait_until(lambda: ready(settings)["status"] == "ok", 30), ready(settings)

        down = stack.cli("stack", "down", settings=settings)
        assert "connect: stopped" in down.stdout and "postgres: stopped" in down.stdout
        assert wait_until(lambda: source_metric(settings, table.source) == "UNREACHABLE", 30)
        body = ready(settings)
        assert body["status"] == "degraded" and "cannot reach Kafka Connect" in body["degraded"][0]
        up = stack.cli("stack", "up", "--with-postgres", settings=settings)
        assert up.returncode == 0, up.stdout + up.stderr
        assert wait_until(lambda: running(stack.connect, table.prefix), 90), "not running again"
        assert (
            run_script(stack.database, tmp_path / "a.sql", table.changes_script(40, "a")).wait(60)
            == 0
        )
        assert_stores_equal_postgres(stack, settings, table)
        assert wait_until(lambda: source_metric(settings, table.source) == "RUNNING", 30)

        changing = run_script(stack.database, tmp_path / "b.sql", table.changes_script(150, "b"))
        assert wait_until(lambda: _changed_rows(table, "b") >= 20, 30)
        connect_pid = stack.connect.process().pid()
        assert connect_pid is not None
        os.kill(connect_pid, signal.SIGKILL)  # mid-stream: offsets not yet flushed are lost
        assert changing.wait(60) == 0
        up = stack.cli("stack", "up", "--with-postgres", settings=settings)
        assert up.returncode == 0 and "connect: started pid" in up.stdout, up.stdout + up.stderr
        assert wait_until(lambda: running(stack.connect, table.prefix), 90), "not running again"
        assert_stores_equal_postgres(stack, settings, table)
        assert worker.alive(), worker.log_tail()
    finally:
        worker.stop()
        table.drop()


def _changed_rows(table: Table, tag: str) -> int:
    return int(
        table.stack.database.psql(f"SELECT count(*) FROM {table.name} WHERE name LIKE '{tag}%'")
    )


def test_a_paused_connector_a_failed_task_and_a_missing_one_show_in_ready_lag_and_metrics(
    services: Services, stack: DebeziumStack, tmp_path: Path
) -> None:
    paused, failing, orphan = (Table(stack, k, rows=3) for k in ("paused", "failing", "orphan"))
    tables = {"users": paused.spec, "failing": failing.spec, "orphan": orphan.spec}
    settings = watched_settings(stack, tables)
    worker = start_worker(services, settings, tmp_path, [paused])
    try:
        assert stack.cli("connector", "add", paused.config_file(tmp_path),
                         settings=settings).returncode == 0  # fmt: skip
        # The task fails as it starts: no publication to read, and none may be created.
        unpublished = failing.config_file(tmp_path, **{"publication.autocreate.mode": "disabled"})
        failed = stack.cli("connector", "add", unpublished, settings=settings)
        assert failed.returncode == 2, failed.stdout + failed.stderr
        assert failed.stderr.splitlines()[-1] == (
            f"error: connector {failing.prefix} task 0 FAILED (ConnectException: Publication "
            "autocreation is disabled, please create one and restart the connector.); it stays "
            "registered: fix the config and add it again"
        )
        stack.connect.request("PUT", f"/connectors/{paused.prefix}/pause")

        expected = {
            paused.source: ("PAUSED", f"connector {paused.prefix} PAUSED"),
            failing.source: ("FAILED", f"connector {failing.prefix} task 0 FAILED"),
            orphan.source: ("MISSING", "no connector feeds it"),
        }
        assert wait_until(
            lambda: all(source_metric(settings, s) == e[0] for s, e in expected.items()), 60
        ), worker.log_tail()
        body = ready(settings)  # 200: the worker is ready, the sources are not
        assert body["status"] == "degraded" and body["reasons"] == [], body
        for source, (_, detail) in expected.items():
            assert any(line.startswith(f"source {source}") and detail in line
                       for line in body["degraded"]), body  # fmt: skip

        lag = stack.cli("lag", "--json", "--samples", "1", settings=settings)
        assert lag.returncode == 1, lag.stdout + lag.stderr
        report = json.loads(lag.stdout)
        assert report["status"] == "SOURCE_DOWN"
        assert {s["source"]: s["state"] for s in report["sources"]} == {
            source: state for source, (state, _) in expected.items()
        }
        status = stack.cli("connector", "status", settings=settings)
        assert status.returncode == 1
        assert f"source {orphan.source} (table orphan): no connector feeds it" in status.stdout

        stack.connect.request("PUT", f"/connectors/{paused.prefix}/resume")
        assert wait_until(lambda: source_metric(settings, paused.source) == "RUNNING", 60)
        assert len(ready(settings)["degraded"]) == 2
    finally:
        worker.stop()
        for table in (paused, failing, orphan):
            table.drop()


def test_connector_validate_and_add_say_each_problem_in_one_line(
    stack: DebeziumStack, tmp_path: Path
) -> None:
    table = Table(stack, "checked", rows=1)
    settings = stack.settings.model_copy(update={"tables": {"users": table.spec}})
    typos = {"snapshot.mode": "initiall", "decimal.handling.mode": "precize"}
    with pytest.raises(urllib.error.HTTPError) as registering:  # what Connect itself answers
        stack.connect.put_connector(table.prefix, table.config(**typos))
    assert registering.value.code == 500
    try:
        for command in ("validate", "add"):
            done = stack.cli("connector", command, table.config_file(tmp_path, **typos),
                             settings=settings)  # fmt: skip
            assert done.returncode == 2
            lines = done.stderr.splitlines()
            assert all(line.startswith("error: ") for line in lines), lines
            assert sorted(lines[:2]) == [
                "error: decimal.handling.mode: The 'decimal.handling.mode' value is invalid: "
                "Value must be one of string, double, precise",
                "error: snapshot.mode: The 'snapshot.mode' value is invalid: Value must be one "
                "of always, initial_only, configuration_based, when_needed, initial, custom, "
                "no_data",
            ]
            assert lines[2:] == [
                f"error: connector {table.prefix}: 2 errors in its config, nothing registered"
            ]
        assert table.prefix not in stack.connect.request("GET", "/connectors")

        stranger = table.config_file(tmp_path, **{"database.user": "nobody_here"})
        done = stack.cli("connector", "validate", stranger, settings=settings)
        assert done.returncode == 2 and done.stderr.startswith(
            "error: database.hostname: Error while validating connector config: FATAL: role "
            '"nobody_here" does not exist\n'
        ), done.stderr

        unusable = table.config(**{
            "transforms": "unwrap",
            "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
            "decimal.handling.mode": "precise", "value.converter.schemas.enable": "false",
        })  # fmt: skip
        del unusable["skipped.operations"]
        done = stack.cli("connector", "validate", "-", "--name", table.prefix, settings=settings,
                         stdin=json.dumps(unusable))  # fmt: skip
        assert done.returncode == 0, done.stderr
        warned = [line.split(":")[1].strip() for line in done.stderr.splitlines()]
        assert warned == ["transforms.unwrap", "decimal.handling.mode=precise (Debezium's default) "
                          "with value.converter.schemas.enable=false", "skipped.operations=t "
                          "(Debezium's default)"], done.stderr  # fmt: skip
        assert done.stdout.splitlines() == [
            f"feeds table users ({table.source})",
            f"connector {table.prefix}: valid (io.debezium.connector.postgresql.PostgresConnector)",
        ]

        nobody = settings.model_copy(update={"connect_url": f"http://127.0.0.1:{free_port()}"})
        done = stack.cli("connector", "status", settings=nobody)
        assert done.returncode == 2 and done.stderr == (
            f"error: cannot reach Kafka Connect at {nobody.connect_url} (CDC_CONNECT_URL): "
            "[Errno 111] Connection refused\n"
        )
    finally:
        table.drop()


def test_a_misspelt_source_names_the_existing_topic_at_start(
    stack: DebeziumStack, tmp_path: Path
) -> None:
    table = Table(stack, "spelt")
    settings = watched_settings(stack, {"users": table.spec})
    asyncio.run(ensure_topics(Kafka.of(settings.kafka), [TopicSpec(table.source, 1, 1, {})]))
    typo = users_of(table.source[:-1], "spelt")
    init = stack.cli("init", settings=settings.model_copy(update={"tables": {"users": typo}}))
    assert init.returncode == 0, init.stderr
    assert (
        f"warning: table 'users' reads topic {table.source[:-1]} (source in its declaration), "
        f"which does not exist: did you mean {table.source}?"
    ) in init.stderr.splitlines()


def test_postgres_shutting_down_is_said_as_such_not_as_a_refused_login(
    services: Services,
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="cdc-pg-shutdown-"))
    folder.chmod(0o755)
    database = PostgresService(free_port(), folder)
    database.prepare()
    database.process().start()
    try:
        assert wait_until(database.ready, 60)
        database.psql("CREATE TABLE users (id int PRIMARY KEY, name text)")
        settings = services.settings(
            postgres_url=database.url, tables={"users": users_of("pg.public.users", "pg-users")}
        )
        asyncio.run(create_topics(settings))
        verify = ["verify", "--source", "postgres", "--store", "redis", "--table", "users"]

        def error_of(url: str) -> str:
            env = services.env(settings.model_copy(update={"postgres_url": url}))
            argv = [sys.executable, "-m", "streams.cli.main", *verify]
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                                  check=False)  # fmt: skip
            assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
            return done.stderr

        stranger = database.url.replace("postgres@", "nobody_here@")
        assert error_of(stranger).startswith("error: PostgreSQL refused the connection")
        with psycopg.connect(database.url):  # a smart shutdown waits for this session to end
            pid = database.process().pid()
            assert pid is not None
            os.kill(pid, signal.SIGTERM)
            assert wait_until(lambda: _pg_isready(database) == 1, 30)  # rejecting connections
            said = error_of(database.url)
        assert said.startswith(
            "error: PostgreSQL is not accepting connections now (starting up, shutting down or "
            "recovering: try again once it is up) (CDC_POSTGRES_URL): "
        ), said
        assert said.rstrip().endswith("FATAL: the database system is shutting down")
        assert wait_until(lambda: database.process().pid() is None, 30)
        assert error_of(database.url).startswith("error: cannot reach PostgreSQL")
    finally:
        database.process().stop()
        shutil.rmtree(folder, ignore_errors=True)


def _pg_isready(database: PostgresService) -> int:
    argv = [str(BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(database.port)]
    return subprocess.run(argv, check=False).returncode
