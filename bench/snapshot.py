"""Snapshot throughput: legacy Redis layout to Kafka, beside the raw rate of reading the layout.

    python -m bench.snapshot [--owners 10000] [--per-owner 100]

Seeds the legacy layout into a redis-server of its own (a free port, stopped at the end), then
times, on the same data: reading it (SCAN + pipelined ZRANGE/MGET + conversion to items), and
the whole snapshot into a fresh topic of the local stack's Kafka (`make up`), acks included.
"""

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis

from connectors.redis_legacy import RedisLegacySource, seed_legacy
from streams.publisher import Publisher
from streams.settings import Settings
from streams.snapshot import Checkpoint, run_snapshot
from streams.stack.manager import Stack
from streams.stack.process import free_port
from streams.stack.services import RedisService
from streams.topics import changes_topics, ensure_topics


async def read_rate(url: str, settings: Settings) -> tuple[int, float]:
    source = RedisLegacySource(aioredis.from_url(url), settings.tables["opponents"])
    begin, items = time.perf_counter(), 0
    async for chunk in source.chunks(None):
        items += len(chunk.items)
    await source.close()
    return items, time.perf_counter() - begin


async def snapshot_rate(url: str, settings: Settings, workdir: Path) -> tuple[int, float]:
    await ensure_topics(settings.kafka_bootstrap_servers, changes_topics(settings))
    source = RedisLegacySource(aioredis.from_url(url), settings.tables["opponents"])
    bootstrap, topic = settings.kafka_bootstrap_servers, settings.topic
    async with Publisher(bootstrap, topic, settings.tables, "bench") as publisher:
        summary = await run_snapshot(
            source, publisher, settings.tables, Checkpoint(workdir / "cp.json")
        )
    await source.close()
    return summary.counts["published"], summary.seconds


async def seed(url: str, settings: Settings, owners: int, per_owner: int) -> float:
    client = aioredis.from_url(url)
    begin = time.perf_counter()
    await seed_legacy(client, settings.tables["opponents"], owners=owners, per_owner=per_owner)
    await client.aclose()
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--owners", type=int, default=10_000)
    parser.add_argument("--per-owner", type=int, default=100)
    args = parser.parse_args()
    settings = Settings(topic=f"bench-snapshot-{uuid.uuid4().hex[:8]}", topic_partitions=6)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        legacy = Stack([RedisService(free_port(), workdir)])
        [status] = legacy.up(report=lambda line: None)
        url = f"redis://127.0.0.1:{status.port}/0"
        try:
            seconds = asyncio.run(seed(url, settings, args.owners, args.per_owner))
            total = args.owners * args.per_owner
            print(f"seeded {total:,} legacy items in {seconds:.1f}s")
            read_items, read_s = asyncio.run(read_rate(url, settings))
            snap_items, snap_s = asyncio.run(snapshot_rate(url, settings, workdir))
        finally:
            legacy.down(report=lambda line: None)
    print(f"{'step':<44}{'items':>11}{'seconds':>9}{'items/s':>10}")
    rows = [
        ("read legacy layout (SCAN, ZRANGE, MGET)", read_items, read_s),
        ("snapshot into Kafka (acks=all)", snap_items, snap_s),
    ]
    for step, items, seconds in rows:
        print(f"{step:<44}{items:>11,}{seconds:>9.1f}{items / seconds:>10,.0f}")


if __name__ == "__main__":
    main()
