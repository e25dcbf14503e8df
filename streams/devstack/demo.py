"""`make demo`: the legacy app's opponents list replicated to Redis and DynamoDB through Kafka.

Publishes a small history with what real systems produce (duplicates, versions arriving out
of order, deletes), starts the worker in the background, waits until the group has committed
everything, and prints the list from both stores, and as the application's own read path reads
it from the legacy app's layout, which the worker maintains (demo-tables.toml). Then snapshots a
small legacy Redis layout through the same path and ends with `verify`: the two stores agree item by
item, and so does the legacy app's layout, read as the legacy source.
"""

import asyncio
import os
import shlex
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from connectors.redis.legacy_source import LegacyLayout, RedisLegacySource, generate_legacy_data
from streams.devstack.manager import background_worker
from streams.devstack.process import ManagedProcess
from streams.kafka.clients import Kafka
from streams.kafka.groups import store_group
from streams.kafka.lag import fetch_lag_when_ready
from streams.kafka.publisher import Publisher
from streams.model.events import ChangeEvent
from streams.settings import Settings, load_settings
from streams.snapshot.run import Checkpoint, run_snapshot
from streams.stores import STORE_NAMES, open_dynamodb, open_redis, open_store
from streams.verify.compare import verify_table
from streams.worker.run import prepare_until_ready

OWNER = "1,a"
# The legacy app's layout in Redis (keys under `demo:`), declared as a user would: in a tables file.
TABLES_FILE = Path(str(files("streams.devstack").joinpath("demo-tables.toml")))
LEGACY_ZSET, LEGACY_META = "demo:opponents:{owner_id}", "demo:opponent:{owner_id}:{opponent_id}"
# Keys of its own, so the demo never snapshots legacy data a user keeps in the same Redis.
DEMO_LAYOUT = LegacyLayout(
    zset_pattern="demo-legacy:opponents:{owner_id}",
    meta_pattern="demo-legacy:opponent:{owner_id}:{opponent_id}",
)


def sample_history(now_us: int) -> list[ChangeEvent]:
    def event(op: str, opponent: str, minutes_ago: int, text: str = "") -> ChangeEvent:
        ts = now_us - minutes_ago * 60_000_000
        data = {"metadata": text, "timestamp": ts // 1_000_000} if op == "upsert" else None
        return ChangeEvent.model_validate({
            "table": "opponents", "op": op, "key": {"owner_id": OWNER, "opponent_id": opponent},
            "data": data, "ts": ts, "origin": "demo", "event_id": f"{opponent}-{minutes_ago}",
        })  # fmt: skip

    newest = event("upsert", "2,b", 1, "see you tomorrow")
    return [
        newest,
        event("upsert", "2,b", 30, "hello"),  # older, arrives later: ignored
        event("upsert", "3,c", 20, "how are you?"),
        event("delete", "3,c", 5),  # conversation deleted
        event("upsert", "3,c", 10, "late message"),  # older than the delete: stays deleted
        event("upsert", "4,d", 15, "nice to meet you"),
        event("upsert", "5,e", 3, "ok!"),
        newest,  # redelivered duplicate
    ]


def start_worker(settings: Settings) -> ManagedProcess:
    proc = background_worker(Path(settings.stack_dir))
    if proc.pid() is None:
        proc.start()
    return proc


async def wait_caught_up(settings: Settings, worker: ManagedProcess, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await _every_group_caught_up(settings):
            return
        if worker.pid() is None:
            raise SystemExit(f"the worker exited; its log:\n{worker.log_tail()}")
        await asyncio.sleep(0.5)
    raise SystemExit(f"the worker did not catch up in {within:.0f}s; its log:\n{worker.log_tail()}")


async def _every_group_caught_up(settings: Settings) -> bool:
    for store in STORE_NAMES:
        group = store_group(settings.worker, store)
        lags = await fetch_lag_when_ready(Kafka.of(settings.kafka), group, settings.topic)
        if not lags or any(p.lag for p in lags):
            return False
    return True


async def show_lists(settings: Settings) -> bool:
    listings = {}
    for name in ("redis", "dynamodb"):
        store = open_store(settings, name)
        try:
            listings[name] = await store.list_partition("opponents", OWNER, 10)
        finally:
            await store.close()
    for name, items in listings.items():
        print(f"\nopponents of {OWNER} in {name}, newest first:")
        for item in items:
            print(f"  {item['opponent_id']:<5} {item['timestamp']}  {item['metadata']}")
    legacy = await legacy_reader(settings, OWNER)
    print(f"\nopponents of {OWNER} as the application reads them (ZREVRANGE, then MGET):")
    for opponent, score, metadata in legacy:
        print(f"  {opponent:<5} {score:.0f}  {metadata}")
    seen = [(i["opponent_id"], i["timestamp"], i["metadata"]) for i in listings["dynamodb"]]
    return listings["redis"] == listings["dynamodb"] and legacy == seen


async def legacy_reader(settings: Settings, owner: str) -> list[tuple[str, float, str]]:
    """The application's read path, unchanged by the migration: the owner's sorted set newest
    first, then every opponent's metadata in one MGET."""
    client: Any = aioredis.from_url(settings.redis_url)  # replies typed for both APIs
    try:
        zset = LEGACY_ZSET.format(owner_id=owner)
        members = await client.zrevrange(zset, 0, 9, withscores=True)
        opponents = [member.decode() for member, _ in members]
        keys = [LEGACY_META.format(owner_id=owner, opponent_id=o) for o in opponents]
        texts = await client.mget(keys) if keys else []
    finally:
        await client.aclose()
    return [
        (o, score, text.decode() if text is not None else "(gone)")
        for o, (_, score), text in zip(opponents, members, texts, strict=True)
    ]


async def snapshot_legacy(settings: Settings, worker: ManagedProcess) -> None:
    """The legacy app's background copy, in small: a legacy Redis layout snapshotted through
    Kafka."""
    spec = settings.tables["opponents"]
    client = aioredis.from_url(settings.redis_url)
    count = await generate_legacy_data(client, spec, owners=50, per_owner=20, layout=DEMO_LAYOUT)
    source = RedisLegacySource(client, spec, DEMO_LAYOUT)
    kafka, topic = Kafka.of(settings.kafka), settings.topic
    checkpoint = Checkpoint(Path(settings.stack_dir) / "snapshots" / "demo.json")
    async with Publisher(kafka, topic, settings.tables, "demo") as publisher:
        summary = await run_snapshot(source, publisher, settings.tables, checkpoint)
    await source.close()
    print(f"\nsnapshot of a legacy Redis layout ({count} items under {DEMO_LAYOUT.zset_pattern}):")
    print(f"  published {summary.counts['published']} snapshot events in {summary.seconds:.1f}s")
    await wait_caught_up(settings, worker)


async def verify_both(settings: Settings) -> bool:
    redis, dynamo = open_redis(settings), open_dynamodb(settings)
    try:
        report = await verify_table(redis, dynamo, "opponents")
    finally:
        await redis.close()
        await dynamo.close()
    counts = report.counts
    print(f"\nverify: {counts['compared']} items compared, {counts['redis']} live in Redis, "
          f"{counts['dynamodb']} live in DynamoDB, {report.drifted} drifted")  # fmt: skip
    return report.drifted == 0


def verify_legacy_layout() -> bool:
    """`verify --source redis-legacy` on the layout the worker keeps: what the application reads
    agrees with DynamoDB (the command a user would run, so its exit code is the answer)."""
    argv = ["verify", "--source", "redis-legacy", "--zset-pattern", LEGACY_ZSET,
            "--meta-pattern", LEGACY_META, "--store", "dynamodb"]  # fmt: skip
    print(f"\ncdc-replicator {shlex.join(argv)}")
    done = subprocess.run([sys.executable, "-m", "streams.cli.main", *argv], check=False)
    print(f"exit code {done.returncode}")
    return done.returncode == 0


async def run(settings: Settings) -> int:
    await prepare_until_ready(settings, ["redis", "dynamodb"])
    events = sample_history(time.time_ns() // 1000)
    async with Publisher(Kafka.of(settings.kafka), settings.topic, settings.tables, "demo") as pub:
        await pub.publish(events)
    print(f"published {len(events)} events (a duplicate, an out-of-order version, a delete)")
    worker = start_worker(settings)
    print(f"worker running as pid {worker.pid()} (log: {worker.logfile})")
    await wait_caught_up(settings, worker)
    agree = await show_lists(settings)
    print(f"\nthe three listings agree: {'yes' if agree else 'NO'}")
    await snapshot_legacy(settings, worker)
    agree = await verify_both(settings) and agree
    agree = verify_legacy_layout() and agree
    print(
        "\nThe stack and the worker keep running. Try:\n"
        f"  export CDC_TABLES_FILE={TABLES_FILE}\n"
        f"  .venv/bin/cdc-replicator get --store dynamodb opponents "
        f"owner_id={OWNER} opponent_id=2,b\n"
        f"  .venv/bin/cdc-replicator list --store redis opponents {OWNER}\n"
        "  .venv/bin/cdc-replicator verify\n"
        "  make down    # stops the worker and the stack"
    )
    return 0 if agree else 1


def main() -> int:
    # The worker this starts and the commands it runs read the demo's tables from the file.
    os.environ.pop("CDC_TABLES", None)
    os.environ["CDC_TABLES_FILE"] = str(TABLES_FILE)
    return asyncio.run(run(load_settings()))


if __name__ == "__main__":
    sys.exit(main())
