"""Run the real worker (`cdc-replicator worker`) in a subprocess, and wait on what it wrote."""

import asyncio
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from connectors.sources.snapshot_source import SnapshotSource
from streams.kafka.clients import Kafka
from streams.kafka.groups import store_group
from streams.kafka.lag import PartitionLag, fetch_lag_when_ready
from streams.kafka.publisher import Publisher
from streams.kafka.topics import changes_topics, ensure_topics
from streams.model.events import ChangeEvent, decode_event
from streams.settings import Settings
from streams.snapshot.run import Checkpoint, SnapshotSummary, run_snapshot
from streams.stores import open_store
from tests.conftest import Services
from tests.support import assert_store_matches, batches_of


class WorkerProcess:
    def __init__(
        self,
        services: Services,
        settings: Settings,
        log: Path,
        stores: str = "redis,dynamodb",
        loglevel: str = "info",
    ) -> None:
        self.env = services.env(settings) | {"PYTHONUNBUFFERED": "1"}
        self.log = log
        self.stores = stores
        self.loglevel = loglevel
        self.cwd: Path | None = None  # None: this process's working directory
        self.module = "streams.cli.main"  # tests.support.buggy_worker: a store with a bug
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    self.module,
                    "worker",
                    "--stores",
                    self.stores,
                    "--loglevel",
                    self.loglevel,
                ],
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def signal(self, sig: signal.Signals, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGKILL)

    def exit_code(self, timeout: float = 90) -> int | None:
        """How the worker exited by itself within `timeout` (None: it was still running)."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def create_topics(settings: Settings) -> None:
    """The changes topic and its DLQ as `init` creates them (brokers here never auto-create)."""
    await ensure_topics(Kafka.of(settings.kafka), changes_topics(settings.changes))


async def publish(settings: Settings, events: Sequence[ChangeEvent]) -> None:
    await create_topics(settings)
    async with Publisher(Kafka.of(settings.kafka), settings.topic, settings.tables, "tests") as pub:
        await pub.publish(events)


async def stores_match(
    settings: Settings, events: Sequence[ChangeEvent], stores: Sequence[str]
) -> bool:
    for name in stores:
        store = open_store(settings, name)
        try:
            await assert_store_matches(store, events, settings.tables)
        finally:
            await store.close()
    return True


def committed(
    settings: Settings, stores: Sequence[str] = ("redis", "dynamodb")
) -> list[PartitionLag]:
    """Per partition, what every store's group has committed: the least of them ([] while a
    group's coordinator is not ready)."""
    per_group = [
        asyncio.run(
            fetch_lag_when_ready(
                settings.kafka_bootstrap_servers,
                store_group(settings.worker, store),
                settings.topic,
            )
        )
        for store in stores
    ]
    if not all(per_group):
        return []
    return [min(lags, key=lambda p: p.committed or 0) for lags in zip(*per_group, strict=True)]


def wait_committed(
    settings: Settings, worker: WorkerProcess, at_least: int, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while sum(p.committed or 0 for p in committed(settings)) < at_least:
        assert worker.alive(), f"worker exited:\n{worker.log_tail()}"
        assert time.monotonic() < deadline, f"fewer than {at_least} committed:\n{worker.log_tail()}"
        time.sleep(0.2)


def wait_caught_up(
    settings: Settings,
    worker: WorkerProcess,
    stores: Sequence[str] = ("redis", "dynamodb"),
    timeout: float = 180,
) -> None:
    """Until the worker's group has committed the whole topic."""
    deadline = time.monotonic() + timeout
    while True:
        lags = committed(settings, stores)
        if lags and sum(p.lag for p in lags) == 0:
            return
        assert worker.alive(), f"worker exited:\n{worker.log_tail()}"
        assert time.monotonic() < deadline, f"group still lags {lags}:\n{worker.log_tail()}"
        time.sleep(0.3)


def wait_for_fold(
    settings: Settings,
    events: Sequence[ChangeEvent],
    worker: WorkerProcess,
    stores: Sequence[str] = ("redis", "dynamodb"),
    timeout: float = 180,
) -> None:
    """Wait until the group has committed everything, then every store must equal the fold:
    offsets move only after the stores hold a batch, so there is nothing left to wait for."""
    wait_caught_up(settings, worker, stores, timeout)
    assert asyncio.run(stores_match(settings, events, stores)), worker.log_tail()


async def read_records(
    settings_: Settings, topic: str, count: int, wait_seconds: float = 60
) -> list[ConsumerRecord[bytes, bytes]]:
    """Up to `count` records of `topic` from the beginning, waiting at most `wait_seconds`."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings_.kafka_bootstrap_servers, auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4().hex}",
    )  # fmt: skip
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + wait_seconds
        while len(found) < count and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=1000)).values():
                found.extend(messages)
    finally:
        await consumer.stop()
    return found


async def read_topic(
    settings_: Settings, topic: str, count: int, wait_seconds: float = 60
) -> list[tuple[bytes, dict[str, str]]]:
    """Values and headers of up to `count` records."""
    records = await read_records(settings_, topic, count, wait_seconds)
    return [(m.value or b"", {k: v.decode() for k, v in m.headers}) for m in records]


async def write_direct(settings: Settings, store_name: str, events: Sequence[ChangeEvent]) -> None:
    """Write events straight into a store, bypassing Kafka (to set up or plant state)."""
    store = open_store(settings, store_name)
    try:
        for batch in batches_of(events, 50, settings.tables):
            await store.write(batch)
    finally:
        await store.close()


async def snapshot_into_stores(
    settings: Settings, source: SnapshotSource, checkpoint: Path
) -> SnapshotSummary:
    """Snapshot `source` into the topic, then apply what a worker decodes to both stores (the
    worker's path without its process)."""
    async with Publisher(
        settings.kafka_bootstrap_servers, settings.topic, settings.tables, "snapshot:test"
    ) as pub:
        summary = await run_snapshot(source, pub, settings.tables, Checkpoint(checkpoint))
    await source.close()
    messages = await read_topic(settings, settings.topic, summary.counts["published"])
    events = [decode_event(value, settings.tables) for value, _ in messages]
    for name in ("redis", "dynamodb"):
        await write_direct(settings, name, events)
    return summary


def fetch(url: str) -> bytes:
    """A page of a worker's web server (loopback)."""
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 -- our loopback server
        return bytes(response.read())
