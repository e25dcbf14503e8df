"""Kafka Connect as the replicator sees it, without Connect: which connector feeds a declared
Debezium table, the states said by /ready, /metrics and `lag`, the checks of a connector's
config, and waiting for a registered connector to run."""

import json
from collections.abc import Mapping
from typing import Any

import pytest

from streams.cli.items import shown_item
from streams.kafka.connect_rest import Connector, TaskState
from streams.kafka.connector_checks import config_warnings
from streams.kafka.connector_setup import (
    ConnectorFile,
    ConnectorNotRunningError,
    parse_connector_file,
    wait_until_running,
)
from streams.kafka.connector_sources import MISSING, SourceState, feeds, source_states
from streams.kafka.lag import Status
from streams.kafka.lag_report import SOURCE_DOWN, report_status
from streams.kafka.missing_topics import misspelt_topics
from streams.model.errors import ConfigError
from streams.model.tables import OPPONENTS, TableSpec
from streams.worker.health import Health
from streams.worker.metrics import ReplicationMetrics
from tests.support.debezium import USERS

TRACE = (
    "org.apache.kafka.connect.errors.ConnectException: An exception occurred.\n"
    "\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\n"
    "Caused by: org.postgresql.util.PSQLException: FATAL: terminating connection due to "
    "administrator command\n\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse"
)
BASE = {"connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "topic.prefix": "pg", "table.include.list": "public.users"}  # fmt: skip


def running(name: str = "pg", config: Mapping[str, str] = BASE) -> Connector:
    return Connector(name, dict(config), "RUNNING", (TaskState(0, "RUNNING"),))


@pytest.mark.parametrize(
    ("config", "fed"),
    [
        (BASE, True),
        ({**BASE, "topic.prefix": "other"}, False),
        ({**BASE, "table.include.list": "public.orders"}, False),
        ({**BASE, "table.include.list": "public.orders, PUBLIC.USERS"}, True),  # case, spaces
        ({**BASE, "table.include.list": r"public\.u.*"}, True),
        ({**BASE, "table.include.list": "public.user"}, False),  # matched whole, not a prefix
        ({"topic.prefix": "pg"}, True),  # no filter: every table
        ({"topic.prefix": "pg", "table.exclude.list": "public.users"}, False),
        ({"topic.prefix": "pg", "schema.include.list": "inventory"}, False),
        ({"topic.prefix": "pg", "schema.exclude.list": "inventory"}, True),
        ({**BASE, "table.include.list": "public.(users"}, False),  # not a regex Python reads
    ],
)
def test_a_connector_feeds_a_source_as_debeziums_filters_select_it(
    config: dict[str, str], fed: bool
) -> None:
    assert feeds(config, "pg.public.users") is fed


def test_each_declared_source_gets_its_running_connector_or_says_why_not() -> None:
    orders = USERS.model_copy(update={"source": "pg.public.orders"})
    typo = USERS.model_copy(update={"source": "pg.public.userz"})
    tables = {"users": USERS, "users_copy": USERS, "orders": orders, "typo": typo,
              "opponents": OPPONENTS}  # fmt: skip
    paused = Connector("a-paused", BASE, "PAUSED", (TaskState(0, "PAUSED"),))
    failed = Connector(
        "orders", {**BASE, "table.include.list": "public.orders"}, "RUNNING",
        (TaskState(0, "FAILED", TRACE),),
    )  # fmt: skip
    states = {s.source: s for s in source_states(tables, [paused, running("b-live"), failed])}
    assert set(states) == {"pg.public.users", "pg.public.orders", "pg.public.userz"}
    users = states["pg.public.users"]
    assert (users.state, users.connector) == ("RUNNING", "b-live")
    assert users.tables == ("users", "users_copy")
    assert states["pg.public.orders"].state == "FAILED"
    assert states["pg.public.orders"].describe() == (
        "source pg.public.orders (table orders): connector orders task 0 FAILED (PSQLException: "
        "FATAL: terminating connection due to administrator command)"
    )
    assert states["pg.public.userz"].state == MISSING
    assert "none has topic.prefix pg and selects public.userz" in states["pg.public.userz"].detail
    only_paused = source_states({"users": USERS}, [paused])[0]
    assert (only_paused.state, only_paused.detail) == ("PAUSED", "connector a-paused PAUSED")


@pytest.mark.parametrize(
    ("connector", "overall", "shown"),
    [
        (running(), "RUNNING", "connector pg RUNNING, 1 task"),
        (Connector("pg", BASE, "RUNNING"), "UNASSIGNED", "connector pg RUNNING with no task yet"),
        (Connector("pg", BASE, "FAILED"), "FAILED", "connector pg FAILED"),
        (Connector("pg", BASE, "RUNNING", (TaskState(0, "RUNNING"), TaskState(1, "UNASSIGNED"))),
         "UNASSIGNED", "connector pg task 1 UNASSIGNED"),
        (Connector("pg", BASE, "RUNNING", (TaskState(0, "FAILED", "java.lang.Error: x"),)),
         "FAILED", "connector pg task 0 FAILED (Error: x)"),
    ],
)  # fmt: skip
def test_a_connector_is_running_only_with_every_task_running(
    connector: Connector, overall: str, shown: str
) -> None:
    assert (connector.overall, connector.describe()) == (overall, shown)
    assert connector.running is (overall == "RUNNING")


def test_a_source_not_running_makes_the_worker_degraded_not_unready() -> None:
    health = Health(["redis"], stuck_seconds=300, clock=lambda: 100.0)
    health.beat()
    health.partitions_assigned("redis", 1)
    health.probed("redis", None)
    assert health.readiness().body() == {"status": "ok", "reasons": []}
    paused = SourceState("pg.public.users", ("users",), "PAUSED", "connector pg PAUSED", "pg")
    health.sources_checked([paused])
    verdict = health.readiness()
    assert verdict.http_status == 200
    assert verdict.body() == {
        "status": "degraded", "reasons": [],
        "degraded": ["source pg.public.users (table users): connector pg PAUSED"],
    }  # fmt: skip
    health.probed("redis", "not answering")
    assert health.readiness().body()["status"] == "failing"


def test_the_source_metric_holds_one_series_per_state_and_1_for_the_current() -> None:
    metrics = ReplicationMetrics(["redis"])
    metrics.set_sources([SourceState("pg.public.users", ("users",), "UNREACHABLE", "down")])
    metrics.set_sources([SourceState("pg.public.users", ("users",), "FAILED", "task 0")])
    values = {
        s.labels["state"]: s.value
        for family in metrics.registry.collect()
        if family.name == "cdc_source_connector"
        for s in family.samples
    }
    assert values["FAILED"] == 1 and sum(values.values()) == 1
    assert {"RUNNING", "PAUSED", "MISSING", "UNREACHABLE"} <= set(values)
    assert metrics.stats()["sources"][0]["state"] == "FAILED"


@pytest.mark.parametrize(
    ("groups", "sources", "status"),
    [
        ([Status.OK], ["RUNNING"], "OK"),
        ([Status.OK], [], "OK"),
        ([Status.OK, Status.LAGGING], ["RUNNING", "PAUSED"], SOURCE_DOWN),
        ([Status.STALLED], ["UNREACHABLE"], SOURCE_DOWN),
        ([Status.STOPPED], ["MISSING"], "STOPPED"),
        ([Status.LAGGING], ["RUNNING"], "LAGGING"),
    ],
)
def test_lags_status_is_source_down_unless_a_group_is_stopped(
    groups: list[Status], sources: list[str], status: str
) -> None:
    states = [SourceState(f"pg.public.t{n}", ("t",), s, s) for n, s in enumerate(sources)]
    assert report_status(groups, states) == status


def test_warnings_for_settings_the_replicator_cannot_use() -> None:
    config = {**BASE, "transforms": "unwrap, route",
              "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
              "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
              "value.converter.schemas.enable": "false",
              "decimal.handeling.mode": "string"}  # fmt: skip
    known = frozenset({*BASE, "decimal.handling.mode", "skipped.operations", "transforms"})
    warnings = config_warnings(config, known)
    assert warnings[0] == (
        "decimal.handeling.mode is not a setting of PostgresConnector, and Connect ignores it: "
        "did you mean decimal.handling.mode?"
    )
    assert warnings[1].startswith("transforms.unwrap: ExtractNewRecordState flattens")
    assert warnings[2].startswith("decimal.handling.mode=precise (Debezium's default) with")
    assert warnings[3].startswith("skipped.operations=t (Debezium's default): on topics kept by")
    assert len(warnings) == 4


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"skipped.operations": "none", "decimal.handling.mode": "string"}, []),
        ({"skipped.operations": "none", "value.converter.schemas.enable": "false",
          "decimal.handling.mode": "double"}, []),
        ({"skipped.operations": "u,t"}, ["skipped.operations=u,t: updates never reach",
                                         "skipped.operations=u,t: on topics kept by"]),
        ({"skipped.operations": "none", "topic.creation.default.cleanup.policy": "compact"},
         ["topic.creation.default.cleanup.policy=compact with truncates not skipped"]),
        ({"topic.creation.default.cleanup.policy": "compact"}, []),  # truncates skipped: fine
        ({"skipped.operations": "none",
          "value.converter": "io.confluent.connect.avro.AvroConverter"},
         ["value.converter=io.confluent.connect.avro.AvroConverter: the replicator reads"]),
    ],
)  # fmt: skip
def test_a_config_the_replicator_can_use_has_no_warning(
    settings: dict[str, str], expected: list[str]
) -> None:
    warnings = config_warnings({**BASE, **settings})
    assert len(warnings) == len(expected), warnings
    assert all(w.startswith(e) for w, e in zip(warnings, expected, strict=True)), warnings


def test_a_connector_file_is_flat_or_as_post_connectors_takes_it() -> None:
    flat = parse_connector_file(json.dumps({**BASE, "tasks.max": 1, "x": True}), "c.json")
    assert flat.name == "pg" and flat.config["tasks.max"] == "1" and flat.config["x"] == "true"
    assert flat.config["name"] == "pg"  # validation needs it
    nested = parse_connector_file(json.dumps({"name": "app", "config": BASE}), "c.json")
    assert (nested.name, nested.config["name"]) == ("app", "app")
    assert parse_connector_file(json.dumps(BASE), "c.json", name="mine").name == "mine"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "c.json: not JSON"),
        ("[1]", "c.json: expected a JSON object of connector settings"),
        ('{"topic.prefix": "pg"}', "c.json: no connector.class setting"),
        ('{"connector.class": "X"}', "c.json: no name: give --name"),
        ('{"connector.class": "X", "name": "a", "y": null}', "c.json: setting y: expected"),
    ],
)
def test_a_bad_connector_file_is_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}"):
        parse_connector_file(text, "c.json")


class FakeConnect:
    """Connect's answers over time: a status per poll, the tasks' configs as given."""

    def __init__(self, statuses: list[Connector | None], task_config: dict[str, str]) -> None:
        self.statuses = statuses
        self.task_config = task_config

    def connector(self, name: str) -> Connector | None:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def task_configs(self, name: str) -> list[dict[str, str]]:
        return [self.task_config]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def wait(client: Any, config: dict[str, str], timeout: float = 30) -> Connector:
    clock = Clock()
    return wait_until_running(client, ConnectorFile("pg", config), timeout, clock, clock.sleep)


def test_adding_waits_until_the_new_configs_tasks_run() -> None:
    new = {**BASE, "name": "pg", "snapshot.mode": "no_data"}
    old_tasks = FakeConnect([running()], {**new, "snapshot.mode": "initial"})
    with pytest.raises(ConnectorNotRunningError, match=r"^not running after 30s: connector pg RUN"):
        wait(old_tasks, new)  # the old tasks run, not this config's
    starting = FakeConnect([None, Connector("pg", new), running()], {**new, "task.class": "T"})
    assert wait(starting, new).running


def test_adding_stops_at_a_failed_task_with_its_cause() -> None:
    failed = Connector("pg", BASE, "RUNNING", (TaskState(0, "FAILED", TRACE),))
    client = FakeConnect([running(), failed], {**BASE, "name": "pg"})
    with pytest.raises(ConnectorNotRunningError, match=r"^connector pg task 0 FAILED \(PSQLExc"):
        wait(client, {**BASE, "name": "pg"})


def test_a_misspelt_source_names_the_closest_existing_topic() -> None:
    typo = USERS.model_copy(update={"source": "pg.public.user"})
    routed = TableSpec.model_validate({**USERS.model_dump(), "topic": "pg.users.routd"})
    tables = {"users": typo, "routed": routed, "fine": USERS, "opponents": OPPONENTS}
    existing = ["changes", "pg.public.users", "pg.users.routed", "__consumer_offsets"]
    assert misspelt_topics(tables, "changes", existing) == [
        "table 'routed' reads topic pg.users.routd (topic in its declaration), which does not "
        "exist: did you mean pg.users.routed?",
        "table 'users' reads topic pg.public.user (source in its declaration), which does not "
        "exist: did you mean pg.public.users?",
    ]
    assert misspelt_topics({"far": USERS.model_copy(update={"source": "x.y.z"})}, "c", []) == []


def test_get_prints_the_key_attributes_first_as_declared_then_the_others_by_name() -> None:
    stored = {"zeta": 1, "opponent_id": "a b", "metadata": "50%", "owner_id": "user:7"}
    assert shown_item(stored, OPPONENTS) == (
        '{"owner_id":"user:7","opponent_id":"a b","metadata":"50%","zeta":1}'
    )
