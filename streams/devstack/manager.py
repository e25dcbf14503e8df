"""`stack up | down | status`: the local services as one unit, idempotent and pid-file based."""

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from streams.devstack.connect import ConnectService
from streams.devstack.postgres import PostgresService
from streams.devstack.process import ManagedProcess, free_port, port_open, wait_until
from streams.devstack.services import DynamoDBService, KafkaService, RedisService, Service
from streams.model.errors import StackError
from streams.settings import Settings
from streams.settings_parts import KafkaSettings, StackSettings


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    port: int
    pid: int | None  # None: not started by this stack (absent, or the user's own)
    healthy: bool

    def describe(self) -> str:
        owner = f"pid {self.pid}" if self.pid else "not managed"
        health = "up" if self.healthy else "down"
        return f"{self.name:<9} 127.0.0.1:{self.port:<6} {health:<5} ({owner})"


def background_worker(state_dir: Path) -> ManagedProcess:
    """The worker `make demo` leaves running, so `stack down` can stop it too."""
    argv = [sys.executable, "-m", "streams.cli.main", "worker", "--loglevel", "warn"]
    return ManagedProcess("worker", argv, state_dir)


class Stack:
    """Kafka, Redis and the DynamoDB API under one state folder; with PostgreSQL and Kafka
    Connect (Debezium) too when asked, `later` ones started once the first answer."""

    def __init__(
        self,
        services: list[Service],
        worker: ManagedProcess | None = None,
        later: list[Service] | None = None,
    ) -> None:
        self.services = services
        self.later = later or []  # Connect needs the broker up before it starts
        self.worker = worker  # a worker started in the background (make demo) stops first

    @classmethod
    def from_settings(
        cls, settings: Settings, controller_port: int | None = None, with_postgres: bool = False
    ) -> "Stack":
        """The stack `settings` describe; PostgreSQL and Connect with `with_postgres`, or when
        an earlier `up --with-postgres` left them running (so `status` and `down` see them)."""
        state = Path(settings.stack_dir)
        kafka = KafkaService(
            port=settings.stack.kafka_port,
            controller_port=controller_port or settings.stack.kafka_port + 1,
            state_dir=state,
            cache_dir=Path(settings.cache_dir),
            version=settings.kafka_version,
        )
        # Fast ones first, so they boot while Kafka's jars are checked.
        services: list[Service] = [
            RedisService(settings.stack.redis_port, state),
            DynamoDBService(settings.stack.dynamodb_port, state),
            kafka,
        ]
        postgres, connect = _debezium_services(settings.stack, settings.kafka, state)
        if with_postgres or postgres.process().pid() or connect.process().pid():
            return cls([*services, postgres], background_worker(state), later=[connect])
        return cls(services, worker=background_worker(state))

    def up(
        self, timeout: float = 180, report: Callable[[str], None] = print
    ) -> list[ServiceStatus]:
        for wave in (self.services, self.later):
            started = [svc for svc in wave if self._start(svc, report)]
            for svc in started:
                self._wait_ready(svc, timeout)
        return self.status()

    def _start(self, svc: Service, report: Callable[[str], None]) -> bool:
        """Start `svc` unless it runs already; True when there is a start to wait for."""
        proc = svc.process()
        if proc.pid() is not None:
            report(f"{svc.name}: already running (pid {proc.pid()})")
            return True
        if port_open(svc.port):
            if svc.ready():
                report(f"{svc.name}: using the service already on port {svc.port} (not managed)")
                return False
            raise StackError(
                f"{svc.name}: port {svc.port} is taken by something else; choose another"
            )
        begin = time.monotonic()
        svc.prepare()
        pid = svc.process().start()
        report(f"{svc.name}: started pid {pid} (prepared in {time.monotonic() - begin:.1f}s)")
        return True

    @staticmethod
    def _wait_ready(svc: Service, timeout: float) -> None:
        proc = svc.process()
        if not wait_until(lambda: proc.pid() is None or svc.ready(), timeout, interval=0.3):
            proc.stop()
            raise StackError(
                f"{svc.name} did not answer in {timeout:.0f}s; log tail:\n{proc.log_tail()}"
            )
        if proc.pid() is None:
            proc.pidfile.unlink(missing_ok=True)
            raise StackError(f"{svc.name} exited while starting; log tail:\n{proc.log_tail()}")

    def down(self, report: Callable[[str], None] = print) -> None:
        if self.worker is not None and self.worker.stop():
            report("worker: stopped")
        for svc in reversed(self.all_services):
            stopped = svc.process().stop()
            report(f"{svc.name}: {'stopped' if stopped else 'was not started by this stack'}")

    def status(self) -> list[ServiceStatus]:
        return [
            ServiceStatus(
                svc.name, svc.port, svc.process().pid(), port_open(svc.port) and svc.ready()
            )
            for svc in self.all_services
        ]

    @property
    def all_services(self) -> list[Service]:
        return [*self.services, *self.later]


def _debezium_services(
    stack: StackSettings, kafka: KafkaSettings, state: Path
) -> tuple[PostgresService, ConnectService]:
    postgres = PostgresService(stack.postgres_port, state)
    connect = ConnectService(
        stack.connect_port, kafka.bootstrap_servers, state, Path(stack.cache_dir)
    )
    return postgres, connect


@contextmanager
def private_stack(state_dir: Path, cache_dir: Path) -> Iterator[tuple[Settings, "Stack"]]:
    """A stack of our own on free loopback ports under `state_dir`, stopped on exit: tests and
    benchmarks never touch the stack a user has running."""
    settings = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        dynamodb_endpoint_url=f"http://127.0.0.1:{free_port()}",
        stack_dir=str(state_dir),
        cache_dir=str(cache_dir),
    )
    stack = Stack.from_settings(settings, controller_port=free_port())
    try:
        statuses = stack.up(report=lambda line: None)
        unhealthy = [s.describe() for s in statuses if not s.healthy]
        if unhealthy:
            raise StackError(f"services did not come up: {unhealthy}")
        yield settings, stack
    finally:
        stack.down(report=lambda line: None)
