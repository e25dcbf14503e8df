"""Faults during a drain: each ends with both stores equal to the LWW fold of what was published."""

import asyncio
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.cli.main import main
from streams.devstack.process import ManagedProcess, free_port, wait_until
from streams.devstack.services import RedisService, Service
from streams.model.events import ChangeEvent
from streams.settings import Settings
from tests.conftest import Services
from tests.support import delete, upsert
from tests.support.worker import (
    WorkerProcess,
    publish,
    stores_match,
    wait_caught_up,
    wait_committed,
    wait_for_fold,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def history(n: int, items: int = 60, seed: int = 3) -> list[ChangeEvent]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        owner, opponent, ts = (
            f"owner-{rng.randrange(items // 5)}",
            f"opp-{rng.randrange(5)}",
            rng.randrange(1, 10**9),
        )
        events.append(
            delete(owner, opponent, ts)
            if i % 10 == 0
            else upsert(owner, opponent, ts, metadata=f"m{i}", timestamp=ts)
        )
    return events


def restart(service: Service, down_seconds: float) -> None:
    service.process().stop()
    time.sleep(down_seconds)
    service.process().start()
    assert wait_until(service.ready, 60), service.process().log_tail()


def stack_service(services: Services, name: str) -> Service:
    if services.stack is None:
        pytest.skip("needs the session's own services to restart")
    return next(s for s in services.stack.services if s.name == name)


def drain_through_restart(
    services: Services, settings: Settings, service: Service, events: list[ChangeEvent], log: Path
) -> str:
    """Publish half, let a worker commit some, restart `service`, publish the rest, wait until
    the group has committed everything; return the worker's log."""
    half = len(events) // 2
    asyncio.run(publish_after_prepare(settings, events[:half]))
    worker = WorkerProcess(services, settings, log).start()
    try:
        wait_committed(settings, worker, at_least=half // 3)
        restart(service, down_seconds=3)
        asyncio.run(publish(settings, events[half:]))
        wait_caught_up(settings, worker, timeout=240)
    finally:
        worker.stop()
    return log.read_text()


def test_kafka_broker_restart_mid_drain(services: Services, tmp_path: Path) -> None:
    settings, events = services.settings(), history(6_000)
    drain_through_restart(
        services, settings, stack_service(services, "kafka"), events, tmp_path / "w.log"
    )
    assert asyncio.run(stores_match(settings, events, ["redis", "dynamodb"]))


class PersistentRedis(RedisService):
    def process(self) -> ManagedProcess:
        proc = super().process()
        proc.argv = [*proc.argv, "--appendonly", "yes", "--appendfsync", "always"]
        return proc


def own_redis(redis: RedisService) -> Iterator[RedisService]:
    """A redis-server of the test's own, to restart at will."""
    redis.prepare()
    redis.process().start()
    assert wait_until(redis.ready, 30)
    yield redis
    redis.process().stop()


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisService]:
    """With append-only persistence: a restart keeps its data."""
    yield from own_redis(PersistentRedis(free_port(), tmp_path / "redis"))


def test_redis_restart_with_persistence_mid_drain(
    services: Services, persistent_redis: RedisService, tmp_path: Path
) -> None:
    settings = services.settings(redis_url=f"redis://127.0.0.1:{persistent_redis.port}/0")
    events = history(4_000)
    log = drain_through_restart(services, settings, persistent_redis, events, tmp_path / "w.log")
    assert asyncio.run(stores_match(settings, events, ["redis", "dynamodb"]))
    assert "failed transiently" in log


async def publish_after_prepare(settings: Settings, events: list[ChangeEvent]) -> None:
    from streams.worker.run import prepare  # noqa: PLC0415

    await prepare(settings, ["redis", "dynamodb"])
    await publish(settings, events)


def test_two_workers_one_killed_the_other_takes_over(
    services: Services, env_settings: Settings, tmp_path: Path
) -> None:
    events = history(6_000, seed=5)
    asyncio.run(publish(env_settings, events[:3_000]))
    first = WorkerProcess(services, env_settings, tmp_path / "first.log").start()
    second = WorkerProcess(services, env_settings, tmp_path / "second.log").start()
    try:
        wait_committed(env_settings, first, at_least=1_000)
        first.signal(signal.SIGKILL)
        asyncio.run(publish(env_settings, events[3_000:]))
        wait_for_fold(env_settings, events, second, timeout=240)
    finally:
        first.stop()
        second.stop()


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[RedisService]:
    """Without persistence: a restart loses its data."""
    yield from own_redis(RedisService(free_port(), tmp_path / "volatile"))


def test_redis_restart_without_persistence_then_rebuild(
    services: Services,
    volatile_redis: RedisService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The data Redis held is gone (not the worker's doing); rebuild restores it from the topic."""
    settings = services.settings(redis_url=f"redis://127.0.0.1:{volatile_redis.port}/0")
    events = history(3_000, seed=9)
    drain_through_restart(services, settings, volatile_redis, events, tmp_path / "w.log")
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    assert main(["verify"]) == 1  # what Redis held before the restart is gone
    assert main(["rebuild", "--store", "redis"]) == 0
    assert main(["verify"]) == 0


def test_worker_sigkilled_five_times_during_a_large_drain(
    services: Services, env_settings: Settings, tmp_path: Path
) -> None:
    """100,000 events; the worker is SIGKILLed at five random moments and restarted each time."""
    rng = random.Random(17)
    events = history(100_000, items=100, seed=17)
    asyncio.run(publish(env_settings, events))
    worker = WorkerProcess(services, env_settings, tmp_path / "worker.log").start()
    try:
        for kill in range(5):
            wait_committed(env_settings, worker, at_least=(kill + 1) * 15_000)
            time.sleep(rng.uniform(0, 1.5))  # mid-batch, at a random point
            worker.signal(signal.SIGKILL)
            worker.start()
        wait_for_fold(env_settings, events, worker, timeout=300)
    finally:
        worker.stop()
