"""The local services: how each is prepared, started and asked whether it answers."""

import asyncio
import base64
import fcntl
import logging
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Protocol

from streams.devstack.process import ManagedProcess, port_open, require

KAFKA_JVM_OPTS = ["-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true"]


class Service(Protocol):
    name: str
    port: int

    def prepare(self) -> None: ...

    def process(self) -> ManagedProcess: ...

    def ready(self) -> bool: ...


@dataclass
class KafkaService:
    """A single-node KRaft broker (combined broker and controller) on loopback."""

    port: int
    controller_port: int
    state_dir: Path
    cache_dir: Path
    version: str = "3.9.1"
    name: str = "kafka"
    # More listeners (name -> port, the name doubling as its security protocol), with their
    # settings and storage-format arguments (SCRAM users): tests run a secured broker this way.
    extra_listeners: dict[str, int] = field(default_factory=dict)
    extra_config: dict[str, str] = field(default_factory=dict)
    format_args: list[str] = field(default_factory=list)

    @property
    def lib_dir(self) -> Path:
        return self.cache_dir / f"kafka-{self.version}" / "lib"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "kafka-data"

    def prepare(self) -> None:
        require(shutil.which("java") is not None, "java not found: install a JDK 17")
        fetch_kafka_jars(self.version, self.lib_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            self._format()

    def _write_config(self) -> None:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": ",".join(
                [*self._listeners(), f"CONTROLLER://127.0.0.1:{self.controller_port}"]
            ),
            "advertised.listeners": ",".join(self._listeners()),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(
                f"{name}:{name}" for name in ["PLAINTEXT", *self.extra_listeners]
            )
            + ",CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir.resolve()),
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.num.partitions": "1",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.partitions": "1",
            # Topics come from `init` or the worker, compacted with the project's partitions;
            # a send to a missing one fails instead of creating it with these defaults.
            "auto.create.topics.enable": "false",
            "log.cleaner.dedupe.buffer.size": "16777216",
            **self.extra_config,
        }
        text = "".join(f"{k}={v}\n" for k, v in props.items())
        (self.state_dir / "kafka.properties").write_text(text)
        log4j = files("streams.devstack").joinpath("log4j.properties").read_text()
        (self.state_dir / "kafka-log4j.properties").write_text(log4j)

    def _listeners(self) -> list[str]:
        ports = {"PLAINTEXT": self.port, **self.extra_listeners}
        return [f"{name}://127.0.0.1:{port}" for name, port in ports.items()]

    def _java(self, main: str, *args: str) -> list[str]:
        log4j = (self.state_dir / "kafka-log4j.properties").resolve()
        return [
            "java",
            *KAFKA_JVM_OPTS,
            f"-Dlog4j.configuration=file:{log4j}",
            "-cp",
            f"{self.lib_dir.resolve()}/*",
            main,
            *args,
        ]

    def _format(self) -> None:
        cluster_id = _cluster_id()
        config = str((self.state_dir / "kafka.properties").resolve())
        argv = self._java(
            "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", config, "-g",
            *self.format_args,
        )  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        require(
            result.returncode == 0,
            f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}",
        )

    def process(self) -> ManagedProcess:
        config = str((self.state_dir / "kafka.properties").resolve())
        return ManagedProcess(self.name, self._java("kafka.Kafka", config), self.state_dir)

    def ready(self) -> bool:
        return port_open(self.port) and asyncio.run(kafka_answers(f"127.0.0.1:{self.port}"))


async def kafka_answers(bootstrap: str) -> bool:
    """True once the broker answers a metadata request."""
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415 -- heavy import, only here
    from aiokafka.errors import KafkaError  # noqa: PLC0415

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals while booting are expected
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()
    return True


def fetch_kafka_jars(version: str, lib_dir: Path) -> None:
    """Copy the broker's jars from Maven Central (via Maven) into a reusable cache folder."""
    fetch_jars("kafka-pom.xml", lib_dir, f"Kafka {version}", {"kafka.version": version})


@contextmanager
def fetching(folder: Path) -> Iterator[None]:
    """Held while `folder` is filled: two processes starting at once (test workers, a stack
    beside the tests) fill it once, the second finding it complete."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def fetch_jars(pom_name: str, lib_dir: Path, what: str, properties: dict[str, str]) -> None:
    """Copy the dependencies of one of our POMs into `lib_dir`, once (a marker says done)."""
    with fetching(lib_dir):
        _fetch_jars(pom_name, lib_dir, what, properties)


def _fetch_jars(pom_name: str, lib_dir: Path, what: str, properties: dict[str, str]) -> None:
    marker = lib_dir / ".complete"
    if marker.exists():
        return
    require(shutil.which("mvn") is not None, f"mvn not found: install Maven to fetch {what}'s jars")
    lib_dir.mkdir(parents=True, exist_ok=True)
    pom = files("streams.devstack").joinpath(pom_name)
    defines = [f"-D{name}={value}" for name, value in properties.items()]
    argv = [
        "mvn", "-q", "-B", "-f", str(pom), *defines,
        "dependency:copy-dependencies", f"-DoutputDirectory={lib_dir.resolve()}",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    require(result.returncode == 0, f"fetching {what} jars failed:\n{result.stdout[-3000:]}")
    marker.write_text(" ".join(defines))


def _cluster_id() -> str:
    # KRaft wants a base64url UUID of 22 characters that does not start with '-'.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


@dataclass
class RedisService:
    port: int
    state_dir: Path
    name: str = "redis"

    def prepare(self) -> None:
        require(
            shutil.which("redis-server") is not None,
            "redis-server not found: `make setup` installs it (apt-get install redis-server)",
        )
        (self.state_dir / "redis").mkdir(parents=True, exist_ok=True)

    def process(self) -> ManagedProcess:
        argv = [
            "redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--dir", str((self.state_dir / "redis").resolve()),
        ]  # fmt: skip
        return ManagedProcess(self.name, argv, self.state_dir, env={"LC_ALL": "C"})

    def ready(self) -> bool:
        import redis  # noqa: PLC0415 -- keep `stack status` light

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=2).ping())
        except (redis.exceptions.RedisError, OSError):
            return False


@dataclass
class DynamoDBService:
    """moto in server mode: the DynamoDB HTTP API, data kept in memory."""

    port: int
    state_dir: Path
    name: str = "dynamodb"

    def prepare(self) -> None:
        try:
            import moto.server  # noqa: F401, PLC0415
        except ImportError as exc:
            require(
                False, f"moto[server] is not installed ({exc}): pip install 'cdc-replicator[stack]'"
            )

    def process(self) -> ManagedProcess:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        return ManagedProcess(self.name, argv, self.state_dir)

    def ready(self) -> bool:
        return dynamodb_answers(self.port)


def dynamodb_answers(port: int) -> bool:
    """True once a DynamoDB API on `port` answers ListTables."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from connectors.dynamodb.client import make_client  # noqa: PLC0415

    client = make_client(f"http://127.0.0.1:{port}", "us-east-1", None)
    try:
        client.list_tables(Limit=1)
    except (BotoCoreError, ClientError):
        return False
    finally:
        client.close()
    return True


DYNALITE_VERSION = "4.0.0"


@dataclass
class DynaliteService:
    """dynalite, an independent DynamoDB on LevelDB (in memory here), under Node: it follows
    AWS's rules where moto does not (numbers canonicalised, item sizes, names), and has no
    transactions. dynalite.js beside this module answers the TTL calls it lacks."""

    port: int
    state_dir: Path
    cache_dir: Path
    name: str = "dynalite"

    def prepare(self) -> None:
        fetch_dynalite(self.cache_dir)

    def process(self) -> ManagedProcess:
        script = str(files("streams.devstack").joinpath("dynalite.js"))
        modules = str(dynalite_modules(self.cache_dir).resolve())
        return ManagedProcess(self.name, ["node", script, str(self.port), modules], self.state_dir)

    def ready(self) -> bool:
        return dynamodb_answers(self.port)


def dynalite_modules(cache_dir: Path) -> Path:
    return cache_dir / f"dynalite-{DYNALITE_VERSION}" / "node_modules"


def fetch_dynalite(cache_dir: Path) -> None:
    """Install dynalite from the npm registry into the cache folder, once (no global install)."""
    with fetching(dynalite_modules(cache_dir).parent):
        _fetch_dynalite(cache_dir)


def _fetch_dynalite(cache_dir: Path) -> None:
    modules = dynalite_modules(cache_dir)
    marker = modules / ".complete"
    if marker.exists():
        return
    require(
        shutil.which("node") is not None and shutil.which("npm") is not None,
        "node and npm not found: install Node.js 20 or later to run dynalite",
    )
    argv = [
        "npm", "install", "--prefix", str(modules.parent), "--no-audit", "--no-fund",
        "--no-save", "--loglevel", "error", f"dynalite@{DYNALITE_VERSION}",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    require(result.returncode == 0, f"npm install dynalite failed:\n{result.stderr[-3000:]}")
    marker.write_text(DYNALITE_VERSION)
