"""Kafka Connect in distributed mode with Debezium's PostgreSQL connector, assembled from Maven
Central jars like the broker (streams/devstack/services.py): the optional source of real CDC
input. As production runs it, its connectors' configs, offsets and statuses live in three
compacted topics of the stack's Kafka, so a restarted Connect (after `stack down`/`up`, or a
crash) runs every connector again from where it stopped."""

import json
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from streams.devstack.process import ManagedProcess, require
from streams.devstack.services import KAFKA_JVM_OPTS, fetch_jars

CONNECT_VERSION = "4.0.0"  # clients of a 3.9 broker are fine; 4.x is what resolves with Debezium
DEBEZIUM_VERSION = "3.6.1.Final"
# The Connect cluster's group, and the prefix of its three topics (docker-compose.yml's too).
GROUP_ID = "cdc-connect"


def distributed_config(port: int, bootstrap: str, group: str = GROUP_ID) -> dict[str, str]:
    """The worker's properties. One worker, one broker: every internal topic has one replica
    and one partition. A worker that leaves is not waited for before its connectors are given
    to the others (the default waits 5 minutes for it to come back): here there are none, and
    a restarted worker is a new member."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "config.storage.topic": f"{group}-configs",
        "offset.storage.topic": f"{group}-offsets",
        "status.storage.topic": f"{group}-status",
        "config.storage.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
        "offset.storage.partitions": "1",
        "status.storage.partitions": "1",
        "scheduled.rebalance.max.delay.ms": "0",
        "listeners": f"http://127.0.0.1:{port}",
        "rest.advertised.host.name": "127.0.0.1",
        "rest.advertised.port": str(port),
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "offset.flush.interval.ms": "1000",
        "plugin.discovery": "only_scan",  # no plugin.path: the connector is on the classpath
    }


@dataclass
class ConnectService:
    """A Connect worker in distributed mode (a cluster of one), connectors added over REST."""

    port: int  # REST
    bootstrap: str
    state_dir: Path
    cache_dir: Path
    name: str = "connect"

    @property
    def lib_dir(self) -> Path:
        return self.cache_dir / f"connect-{CONNECT_VERSION}-debezium-{DEBEZIUM_VERSION}" / "lib"

    def prepare(self) -> None:
        require(shutil.which("java") is not None, "java not found: install a JDK 17")
        fetch_jars(
            "connect-pom.xml", self.lib_dir, f"Connect {CONNECT_VERSION} + Debezium",
            {"connect.version": CONNECT_VERSION, "debezium.version": DEBEZIUM_VERSION},
        )  # fmt: skip
        self.state_dir.mkdir(parents=True, exist_ok=True)
        props = distributed_config(self.port, self.bootstrap)
        text = "".join(f"{k}={v}\n" for k, v in props.items())
        (self.state_dir / "connect.properties").write_text(text)
        log4j = files("streams.devstack").joinpath("connect-log4j2.properties").read_text()
        (self.state_dir / "connect-log4j2.properties").write_text(log4j)

    def process(self) -> ManagedProcess:
        log4j = (self.state_dir / "connect-log4j2.properties").resolve()
        argv = [
            "java", *KAFKA_JVM_OPTS, f"-Dlog4j2.configurationFile={log4j}",
            "-cp", f"{self.lib_dir.resolve()}/*",
            "org.apache.kafka.connect.cli.ConnectDistributed",
            str((self.state_dir / "connect.properties").resolve()),
        ]  # fmt: skip
        return ManagedProcess(self.name, argv, self.state_dir)

    def ready(self) -> bool:
        """Answers once the worker joined its group and read its configs topic (before, a
        distributed worker answers 409 or 500 to REST calls)."""
        try:
            return self.request("GET", "/connectors") is not None
        except OSError:
            return False

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One REST call; its JSON answer (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as answer:  # noqa: S310 -- our own loopback port
            text = answer.read()
        return json.loads(text) if text else None

    def put_connector(self, name: str, config: dict[str, str]) -> None:
        self.request("PUT", f"/connectors/{name}/config", config)

    def connector_state(self, name: str) -> dict[str, Any]:
        try:
            return dict(self.request("GET", f"/connectors/{name}/status"))
        except urllib.error.HTTPError:
            return {}


def postgres_connector(
    database_port: int, prefix: str, tables: list[str], slot: str
) -> dict[str, str]:
    """The Debezium PostgreSQL connector as we test it (README: From a database with Debezium):
    `tables` as `<schema>.<table>`, read from the initial snapshot on, decimals and intervals
    as exact text, one topic per table that Connect creates. `skipped.operations=none`:
    Debezium skips truncates by default, which would leave the stores holding every truncated
    row. A truncate
    record has no key, which a compacted topic refuses (the task fails): the topics keep a
    week by retention instead."""
    return {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "plugin.name": "pgoutput",
        "database.hostname": "127.0.0.1",
        "database.port": str(database_port),
        "database.user": "postgres",
        "database.password": "unused",  # trust authentication on loopback
        "database.dbname": "postgres",
        "topic.prefix": prefix,
        "table.include.list": ",".join(tables),
        "slot.name": slot,
        "publication.name": slot,
        "publication.autocreate.mode": "filtered",
        "snapshot.mode": "initial",
        "decimal.handling.mode": "string",
        "interval.handling.mode": "string",
        "skipped.operations": "none",
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": "1",
        "topic.creation.default.cleanup.policy": "delete",
        "topic.creation.default.retention.ms": str(7 * 24 * 3600 * 1000),
    }
