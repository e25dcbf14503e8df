"""Replication latency: publish at a fixed rate, time each event until both stores show it."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bench.ours import spawn_worker
from bench.workload import Workload
from connectors.store import StoredItem
from streams.kafka.publisher import Publisher
from streams.model.events import ChangeEvent, ItemId
from streams.settings import Settings
from streams.stores import ensure_tables, open_dynamodb, open_redis

ReadMany = Callable[[str, Sequence[ItemId]], Awaitable[dict[ItemId, StoredItem]]]
TABLE = "opponents"  # the table every probe event writes
POLL_SECONDS = 0.01
WARM_UP_SECONDS = 3.0


@dataclass(frozen=True)
class Latency:
    rate: float
    samples: list[float]  # seconds, publish call to visible in both stores

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def measure(workload: Workload, rate: float, seconds: float) -> Latency:
    """A worker into both stores; `rate` new items per second for `seconds`; each event is
    timed from the publish call until Redis and DynamoDB both hold its version."""
    settings = workload.for_run("latency")
    await asyncio.to_thread(ensure_tables, settings.dynamodb, settings.tables)
    proc, log = spawn_worker(settings, "both")
    try:
        async with Publisher(
            settings.kafka_bootstrap_servers, settings.topic, settings.tables, "bench-latency"
        ) as publisher:
            await asyncio.sleep(WARM_UP_SECONDS)
            await _wait_for_worker(publisher, settings)
            samples = await _publish_and_watch(publisher, settings, rate, seconds)
    finally:
        proc.terminate()
        proc.wait(60)
    if not samples:
        raise RuntimeError(f"no event became visible; see {log}")
    return Latency(rate, samples)


async def _wait_for_worker(publisher: Publisher, settings: Settings) -> None:
    """The worker has joined its group and applies: one event makes the round trip."""
    if not await _publish_and_watch(publisher, settings, rate=1, seconds=1, wait_at_most=120):
        raise RuntimeError("the worker applied nothing within 120 s")


async def _publish_and_watch(
    publisher: Publisher, settings: Settings, rate: float, seconds: float, wait_at_most: float = 30
) -> list[float]:
    spec = settings.tables[TABLE]
    redis, dynamodb = open_redis(settings), open_dynamodb(settings)
    pending: dict[ItemId, tuple[str, float]] = {}
    samples: list[float] = []
    run = uuid.uuid4().hex[:8]
    try:
        count = max(1, int(rate * seconds))
        begin = time.perf_counter()
        for i in range(count):
            event = _event(publisher, run, i)
            await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
            pending[event.item_id(spec)] = (event.version.token(), time.perf_counter())
            await publisher.publish([event])
            await _collect(redis.read_many, dynamodb.read_many, pending, samples)
        deadline = time.perf_counter() + wait_at_most
        while pending and time.perf_counter() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            await _collect(redis.read_many, dynamodb.read_many, pending, samples)
        return samples
    finally:
        await redis.close()
        await dynamodb.close()


async def _collect(
    read_redis: ReadMany, read_dynamodb: ReadMany, pending: dict[ItemId, tuple[str, float]],
    samples: list[float],
) -> None:  # fmt: skip
    items = list(pending)
    in_redis, in_dynamodb = await asyncio.gather(
        read_redis(TABLE, items), read_dynamodb(TABLE, items)
    )
    now = time.perf_counter()
    for item in items:
        version, published = pending[item]
        if _holds(in_redis.get(item), version) and _holds(in_dynamodb.get(item), version):
            samples.append(now - published)
            del pending[item]


def _holds(stored: StoredItem | None, version: str) -> bool:
    return stored is not None and stored.version >= version


def _event(publisher: Publisher, run: str, i: int) -> ChangeEvent:
    key = {"owner_id": f"latency-{run}", "opponent_id": f"opp-{i}"}
    return publisher.event(TABLE, "upsert", key, {"metadata": f"m{i}", "timestamp": i})
