"""Snapshot throughput: legacy Redis layout to Kafka, beside the raw rate of reading the layout."""

import time
import uuid
from pathlib import Path
from typing import NamedTuple

import redis.asyncio as aioredis

from bench.cpu import CHILDREN, OURSELVES, CpuMeter, per_unit
from connectors.redis.legacy_source import RedisLegacySource, generate_legacy_data
from connectors.sources.snapshot_source import Part
from streams.kafka.publisher import Publisher
from streams.kafka.topics import changes_topics, ensure_topics
from streams.settings import Settings
from streams.snapshot.options import LegacyOptions, SnapshotOptions, SourceOptions
from streams.snapshot.parts import PartCheckpoints, SnapshotRoute, run_parts
from streams.snapshot.run import Checkpoint, run_snapshot

LEGACY_DB = 15  # the legacy layout lives in a database of its own: SCAN walks only it


def legacy_url(settings: Settings) -> str:
    return settings.redis_url.rsplit("/", 1)[0] + f"/{LEGACY_DB}"


def legacy_source(settings: Settings) -> RedisLegacySource:
    return RedisLegacySource(aioredis.from_url(legacy_url(settings)), settings.tables["opponents"])


async def generate_legacy(settings: Settings, owners: int, per_owner: int) -> None:
    client = aioredis.from_url(legacy_url(settings))
    try:
        await client.flushdb()
        await generate_legacy_data(
            client, settings.tables["opponents"], owners=owners, per_owner=per_owner
        )
    finally:
        await client.aclose()


class Timed(NamedTuple):
    items: int
    seconds: float
    cpu_us: dict[str, float]  # CPU per item, by process

    @property
    def rate(self) -> float:
        return self.items / self.seconds


async def read_seconds(settings: Settings, meter: CpuMeter) -> Timed:
    """SCAN plus pipelined ZRANGE/MGET, items built, nothing published."""
    meter = meter.with_process("reader", OURSELVES)
    source = legacy_source(settings)
    begin, cpu, items = time.perf_counter(), meter.read(), 0
    async for chunk in source.chunks(None):
        items += len(chunk.items)
    seconds = time.perf_counter() - begin
    await source.close()
    return Timed(items, seconds, per_unit(cpu, meter.read(), items))


async def snapshot_seconds(settings: Settings, workdir: Path, meter: CpuMeter) -> Timed:
    """The whole `snapshot` into a fresh topic, every chunk acknowledged by the broker."""
    meter = meter.with_process("snapshot", OURSELVES)
    settings = await _fresh_topic(settings)
    source = legacy_source(settings)
    bootstrap, topic = settings.kafka_bootstrap_servers, settings.topic
    checkpoint = Checkpoint(workdir / f"{topic}.json")
    async with Publisher(bootstrap, topic, settings.tables, "bench") as publisher:
        cpu = meter.read()
        summary = await run_snapshot(source, publisher, settings.tables, checkpoint)
        items = summary.counts["published"]
        cpu_us = per_unit(cpu, meter.read(), items)
    await source.close()
    return Timed(items, summary.seconds, cpu_us)


async def parallel_snapshot_seconds(
    settings: Settings, workdir: Path, meter: CpuMeter, workers: int
) -> Timed:
    """`snapshot --workers N` into a fresh topic: N processes, each a part of the owners."""
    meter = meter.with_process("parent", OURSELVES).with_process("parts", CHILDREN)
    settings = await _fresh_topic(settings)
    legacy = LegacyOptions(url=legacy_url(settings))
    options = SnapshotOptions(SourceOptions("redis-legacy", "opponents", legacy), workers=workers)
    parts = [Part(index, workers) for index in range(workers)]
    checkpoints = PartCheckpoints(workdir / f"{settings.topic}.json")
    cpu = meter.read()
    route = SnapshotRoute(settings.sources, settings.kafka, settings.changes)
    summary, failed = await run_parts(route, options, checkpoints, parts, lambda _: None)
    if failed:
        raise RuntimeError(f"parallel snapshot failed: {failed}")
    items = summary.counts["published"]
    return Timed(items, summary.seconds, per_unit(cpu, meter.read(), items))


async def _fresh_topic(settings: Settings) -> Settings:
    settings = settings.model_copy(update={"topic": f"bench-snapshot-{uuid.uuid4().hex[:6]}"})
    await ensure_topics(settings.kafka_bootstrap_servers, changes_topics(settings.changes))
    return settings
