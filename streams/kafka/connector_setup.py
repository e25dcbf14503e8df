"""Adding a connector safely: its config file read, checked by Connect and against what the
replicator can use, registered, and watched until it runs (or says why it does not)."""

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from streams.kafka.connect_rest import ConfigProblem, ConnectAnswerError, ConnectClient, Connector
from streams.kafka.connector_checks import config_warnings
from streams.kafka.connector_sources import debezium_sources, feeds
from streams.model.errors import ConfigError, ReplicatorError
from streams.model.tables import TableSpec

SETTLE_SECONDS = 3.0  # a task that fails at start does so within this, once reported RUNNING
POLL_SECONDS = 0.5


class ConnectorNotRunningError(ReplicatorError):
    """A registered connector failed, or did not run in time; the message says which."""


@dataclass(frozen=True)
class ConnectorFile:
    name: str
    config: dict[str, str]


@dataclass(frozen=True)
class Checked:
    """Connect's errors (nothing may be registered), our warnings, and the declared tables the
    config feeds (`<table> (<source>)`)."""

    problems: tuple[ConfigProblem, ...]
    warnings: list[str]
    feeds: list[str]


def parse_connector_file(text: str, where: str, name: str | None = None) -> ConnectorFile:
    """A config as `PUT /connectors/<name>/config` takes it, or as `POST /connectors` does
    (`{"name": ..., "config": {...}}`). The name: `name`, else the file's, else the config's
    `topic.prefix`."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: not JSON ({exc})") from None
    if isinstance(document, dict) and isinstance(document.get("config"), dict):
        name = name or document.get("name")
        document = document["config"]
    if not isinstance(document, dict) or not document:
        raise ConfigError(f"{where}: expected a JSON object of connector settings")
    config = {str(key): _setting(where, str(key), value) for key, value in document.items()}
    chosen = name or config.get("name") or config.get("topic.prefix")
    if not chosen:
        raise ConfigError(f'{where}: no name: give --name, or a "name" setting')
    if "connector.class" not in config:
        raise ConfigError(f"{where}: no connector.class setting (the connector to run)")
    return ConnectorFile(chosen, {**config, "name": chosen})


def _setting(where: str, key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ConfigError(f"{where}: setting {key}: expected text, a number or a boolean")


def check(
    client: ConnectClient, config: Mapping[str, str], tables: Mapping[str, TableSpec]
) -> Checked:
    validation = client.validate(config)
    fed = [
        f"{', '.join(names)} ({source})"
        for source, names in debezium_sources(tables).items()
        if feeds(config, source)
    ]
    warnings = config_warnings(config, validation.known)
    if not fed:
        declared = ", ".join(debezium_sources(tables)) or "none"
        warnings.append(
            f"it feeds no table declared in CDC_TABLES (their Debezium sources: {declared})"
        )
    return Checked(validation.problems, warnings, fed)


def wait_until_running(
    client: ConnectClient,
    registered: ConnectorFile,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Connector:
    """The connector once its tasks run this config and keep running for SETTLE_SECONDS;
    ConnectorNotRunningError as soon as it or a task fails, or at `timeout`."""
    deadline = clock() + timeout
    running_since: float | None = None
    last: Connector | None = None
    while True:
        last = _status(client, registered.name, last)
        if last is not None and "FAILED" in {last.state, last.overall}:
            raise ConnectorNotRunningError(f"{last.describe()}; it stays registered: fix the "
                                           "config and add it again")  # fmt: skip
        if last is None or not (last.running and _runs(client, registered)):
            running_since = None
        elif running_since is None:
            running_since = clock()
        elif clock() - running_since >= SETTLE_SECONDS:
            return last
        if clock() >= deadline:
            shown = last.describe() if last else f"connector {registered.name} has no status yet"
            raise ConnectorNotRunningError(f"not running after {timeout:.0f}s: {shown}")
        sleep(POLL_SECONDS)


def _status(client: ConnectClient, name: str, last: Connector | None) -> Connector | None:
    try:
        return client.connector(name)
    except ConnectAnswerError as exc:
        if exc.status != 409:  # 409: Connect rebalances its workers, ask again
            raise
        return last


def _runs(client: ConnectClient, registered: ConnectorFile) -> bool:
    """Whether every task was given this config (an update restarts them with it; until then
    the status is the old tasks'). A setting a task's config lacks is the connector's own."""
    tasks = client.task_configs(registered.name)
    wanted = registered.config.items()
    return bool(tasks) and all(task.get(k, v) == v for task in tasks for k, v in wanted)
