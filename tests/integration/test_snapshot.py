"""Snapshot sources against real services, and the snapshot run through Kafka."""

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from connectors.dynamodb.source import DynamoDBSource
from connectors.redis.legacy_source import LegacyLayout, RedisLegacySource, generate_legacy_data
from connectors.sources.jsonl import JsonLinesSource
from connectors.sources.snapshot_source import Chunk, Part, SnapshotSource, SourceItem
from streams.devstack.process import wait_until
from streams.kafka.publisher import Publisher
from streams.kafka.topics import changes_topics, ensure_topics
from streams.settings import Settings
from streams.snapshot.run import Checkpoint, run_snapshot, snapshot_event
from streams.stores import dynamodb_client, ensure_tables, open_store
from tests.conftest import Services
from tests.support import batches_of, delete, upsert
from tests.support.worker import (
    WorkerProcess,
    read_topic,
    snapshot_into_stores,
    wait_for_fold,
)

pytestmark = [pytest.mark.integration, pytest.mark.emulators]


def unique_layout() -> LegacyLayout:
    tag = uuid.uuid4().hex[:8]
    return LegacyLayout(
        zset_pattern=f"{tag}:opponents:{{owner_id}}",
        meta_pattern=f"{tag}:opp:{{owner_id}}:{{opponent_id}}",
    )


async def read_all(source: SnapshotSource, cursor: str | None = None) -> list[Chunk]:
    chunks = [chunk async for chunk in source.chunks(cursor)]
    await source.close()
    return chunks


def items_of(chunks: list[Chunk]) -> dict[tuple[str, ...], SourceItem]:
    return {tuple(item.key.values()): item for chunk in chunks for item in chunk.items}


def test_legacy_source_reads_every_item_and_reports_bad_data(settings: Settings) -> None:
    spec, layout = settings.tables["opponents"], unique_layout()

    async def run() -> list[Chunk]:
        client = aioredis.from_url(settings.redis_url)
        await generate_legacy_data(client, spec, owners=30, per_owner=7, layout=layout)
        await client.zadd(
            layout.zset_key(spec, "bad"), {"no-meta": 1, "inf": float("inf"), "bytes": 2}
        )
        await client.set(layout.meta_key(spec, "bad", "inf"), "ok")
        await client.set(layout.meta_key(spec, "bad", "bytes"), b"\xff")
        # max_members=3 reads every set in slices, as a huge one would be
        return await read_all(RedisLegacySource(client, spec, layout, page_keys=10, max_members=3))

    chunks = asyncio.run(run())
    items = items_of(chunks)
    assert len(items) == 30 * 7
    one = items[("0,a", "0,a")]
    assert (
        one.data == {"metadata": "last message to 0,a", "timestamp": 1613725769}
        and one.version is None
    )
    reasons = sorted(p.reason.split(":")[0] for c in chunks for p in c.problems)
    assert reasons == [
        "score inf is not a finite number",
        "sorted-set member without its metadata key",
        "unparsable metadata",
    ]
    assert all(
        p.key.startswith(layout.meta_key(spec, "bad", "")) for c in chunks for p in c.problems
    )
    assert chunks[-1].cursor == "done"


def test_legacy_scores_past_2_53_are_read_by_the_number_rule(settings: Settings) -> None:
    """A score is a double: 1e23 means 10**23 (its shortest repr), and stays a valid index."""
    spec, layout = settings.tables["opponents"], unique_layout()

    async def run() -> list[Chunk]:
        client = aioredis.from_url(settings.redis_url)
        await client.zadd(layout.zset_key(spec, "o"), {"big": 1e23, "huge": 2.0**60, "half": 0.5})
        for member in ("big", "huge", "half"):
            await client.set(layout.meta_key(spec, "o", member), "m")
        return await read_all(RedisLegacySource(client, spec, layout))

    items = items_of(asyncio.run(run()))
    scores = {key[1]: item.data["timestamp"] for key, item in items.items()}
    assert scores == {"big": 10**23, "huge": 1_152_921_504_606_847_000, "half": Decimal("0.5")}
    for item in items.values():
        snapshot_event(item, "redis-legacy", settings.tables)  # a valid event, not a problem


def test_legacy_source_resumes_from_any_checkpointed_cursor(settings: Settings) -> None:
    spec, layout = settings.tables["opponents"], unique_layout()

    async def run() -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
        client = aioredis.from_url(settings.redis_url)
        await generate_legacy_data(client, spec, owners=50, per_owner=3, layout=layout)
        source = RedisLegacySource(client, spec, layout, page_keys=20)
        everything, cursors = set(), []
        async for chunk in source.chunks(None):
            everything |= set(items_of([chunk]))
            cursors.append(chunk.cursor)
        resumed: set[tuple[str, ...]] = set()
        middle = cursors[len(cursors) // 2]
        before = set()
        async for chunk in source.chunks(None):
            before |= set(items_of([chunk]))
            if chunk.cursor == middle:
                break
        async for chunk in source.chunks(middle):
            resumed |= set(items_of([chunk]))
        await source.close()
        return everything, before | resumed

    everything, stitched = asyncio.run(run())
    assert len(everything) == 150 and stitched == everything


def test_parts_of_the_legacy_layout_hold_every_owner_once(settings: Settings) -> None:
    spec, layout = settings.tables["opponents"], unique_layout()

    async def run() -> list[list[Chunk]]:
        client = aioredis.from_url(settings.redis_url)
        await generate_legacy_data(client, spec, owners=60, per_owner=4, layout=layout)
        return [
            await read_all(RedisLegacySource(client, spec, layout, part=Part(i, 3)))
            for i in range(3)
        ]

    shares = [set(items_of(chunks)) for chunks in asyncio.run(run())]
    assert sum(len(share) for share in shares) == 60 * 4 == len(set().union(*shares))
    owners = [{key[0] for key in share} for share in shares]
    assert not owners[0] & owners[1] and not owners[1] & owners[2] and all(owners)


def test_dynamodb_source_keeps_versions_and_tombstones(settings: Settings) -> None:
    ensure_tables(settings.dynamodb, settings.tables)
    events = [
        upsert("o1", "p1", 5, metadata="x", timestamp=1),
        upsert("o1", "p2", 6),
        delete("o1", "p2", 9),
    ]
    events += [upsert(f"o{i}", "p", i) for i in range(2, 40)]

    async def run() -> list[Chunk]:
        store = open_store(settings, "dynamodb")
        for batch in batches_of(events, 100, settings.tables):
            await store.write(batch)
        await store.close()
        source = DynamoDBSource(
            dynamodb_client(settings.dynamodb),
            "opponents",
            settings.tables["opponents"],
            segments=3,
            page_items=7,
        )
        first = [c async for c in source.chunks(None)]
        return first

    chunks = asyncio.run(run())
    items = items_of(chunks)
    assert len(items) == 40
    assert items[("o1", "p1")].data == {"metadata": "x", "timestamp": 1}
    assert items[("o1", "p1")].version == events[0].version
    assert items[("o1", "p2")].deleted and items[("o1", "p2")].version == events[2].version
    assert json.loads(chunks[-1].cursor or "{}") == {"0": "done", "1": "done", "2": "done"}


LONG = "0.12345678901234567890123456789"
# Items written before the replicator (no _v), as a user of the table may hold them.
UNVERSIONED: dict[str, dict[str, Any]] = {
    "long": {"n": {"N": LONG}, "timestamp": {"N": "1613725769"}},
    "one": {"n": {"N": "1.0000000000000000000001"}},
    "huge": {"n": {"N": "1E+100"}, "m": {"M": {"l": {"L": [{"N": "0.5"}, {"NULL": True}]}}}},
    "strings": {"s": {"SS": ["a", "b"]}},
    "numbers": {"s": {"NS": ["1", "2.5"]}},
    "binary": {"b": {"B": b"\x00\xff"}},
    "nested": {"m": {"M": {"deep": {"L": [{"BS": [b"x"]}]}}}},
    "created": {"_created_by": {"S": "admin"}, "x": {"S": "y"}},
    # Not from the replicator either: a `_v` that is no version token.
    "badv": {"_v": {"S": "garbage"}, "timestamp": {"N": "14"}},
    "bigts": {"_v": {"S": "99999999999999999 o e"}, "timestamp": {"N": "14"}},
}


def test_a_dynamodb_snapshot_changes_no_item_and_copies_numbers_exactly(
    settings: Settings, tmp_path: Path
) -> None:
    """The backfill of docs/snapshots-and-verify.md: snapshot a table into the topic, apply
    what the worker decodes to both stores. The table is left as it was; Redis gets every item
    events can carry, with every digit, and the others are reported by key."""
    ensure_tables(settings.dynamodb, settings.tables)
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, changes_topics(settings.changes)))
    spec = settings.tables["opponents"]
    client = dynamodb_client(settings.dynamodb)
    table = spec.physical_name("opponents")
    raws = {name: {"owner_id": {"S": "o"}, "opponent_id": {"S": name}, **attributes}
            for name, attributes in UNVERSIONED.items()}  # fmt: skip
    for raw in raws.values():
        client.put_item(TableName=table, Item=raw)

    def stored(raw: dict[str, Any]) -> Any:
        key = {"owner_id": raw["owner_id"], "opponent_id": raw["opponent_id"]}
        return client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]

    # As DynamoDB keeps them: it canonicalises numbers (1E+100 as 101 digits), moto does not.
    before = {name: stored(raw) for name, raw in raws.items()}
    source = DynamoDBSource(client, "opponents", spec, segments=2)
    summary = asyncio.run(snapshot_into_stores(settings, source, tmp_path / "cp.json"))
    assert summary.counts == {"published": 3, "problems": 7}
    reasons = {json.loads(p.key)["opponent_id"]: p.reason for p in summary.samples}
    assert set(reasons) == {"strings", "numbers", "binary", "nested", "created", "badv", "bigts"}
    assert "(SS)" in reasons["strings"] and "(BS)" in reasons["nested"]
    assert "'_created_by'" in reasons["created"]
    assert "'_v': not a version token" in reasons["badv"] and "above 2^53" in reasons["bigts"]
    for name, raw in raws.items():  # the table is untouched, byte for byte
        assert stored(raw) == before[name], name

    async def read(store_name: str, name: str) -> Any:
        store = open_store(settings, store_name)
        try:
            return await store.get("opponents", {"owner_id": "o", "opponent_id": name})
        finally:
            await store.close()

    for name in ("long", "one", "huge"):
        assert asyncio.run(read("redis", name)) == asyncio.run(read("dynamodb", name))
    assert asyncio.run(read("redis", "long"))["n"] == Decimal(LONG)
    assert asyncio.run(read("redis", "one"))["n"] == Decimal("1.0000000000000000000001")
    assert asyncio.run(read("redis", "huge"))["n"] == 10**100
    assert asyncio.run(read("redis", "strings")) is None


def test_jsonl_source_resumes_at_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    lines = [
        json.dumps(
            {
                "table": "opponents",
                "key": {"owner_id": "o", "opponent_id": f"p{i}"},
                "data": {"n": i},
            }
        )
        for i in range(10)
    ]
    path.write_text("\n".join([*lines[:5], "{broken", *lines[5:]]) + "\n")
    chunks = asyncio.run(read_all(JsonLinesSource(path, chunk_items=4)))
    assert len(items_of(chunks)) == 10 and len([p for c in chunks for p in c.problems]) == 1
    resumed = asyncio.run(read_all(JsonLinesSource(path, chunk_items=4), chunks[1].cursor))
    assert [i.key["opponent_id"] for c in resumed for i in c.items] == [
        f"p{i}" for i in range(7, 10)
    ]


def test_parts_of_a_dynamodb_table_and_a_file_hold_every_item_once(
    settings: Settings, tmp_path: Path
) -> None:
    ensure_tables(settings.dynamodb, settings.tables)
    events = [upsert(f"o{i % 12}", f"p{i}", i + 1) for i in range(60)]
    lines = [json.dumps({"table": "opponents", "key": e.key, "data": e.data}) for e in events]
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(lines) + "\n")

    async def run() -> list[list[Chunk]]:
        store = open_store(settings, "dynamodb")
        for batch in batches_of(events, 100, settings.tables):
            await store.write(batch)
        await store.close()
        client, spec = dynamodb_client(settings.dynamodb), settings.tables["opponents"]
        return [
            await read_all(DynamoDBSource(client, "opponents", spec, segments=2, part=Part(i, 2)))
            for i in range(2)
        ] + [await read_all(JsonLinesSource(path, part=Part(i, 2))) for i in range(2)]

    shares = [set(items_of(chunks)) for chunks in asyncio.run(run())]
    for table_shares in (shares[:2], shares[2:]):
        assert len(table_shares[0]) + len(table_shares[1]) == 60
        assert len(table_shares[0] | table_shares[1]) == 60 and all(table_shares)


def test_a_snapshot_never_beats_a_live_write(services: Services, tmp_path: Path) -> None:
    """Live updates to the same items while the snapshot runs: the live values win, in both
    stores, and items nobody touched keep the snapshot's values."""
    settings = services.settings()
    spec, layout = settings.tables["opponents"], unique_layout()
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, changes_topics(settings.changes)))
    ensure_tables(settings.dynamodb, settings.tables)
    client = redis.Redis.from_url(settings.redis_url)
    owners = 40
    legacy = asyncio.run(_generate_legacy(settings, layout, owners, 5))
    worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
    try:
        now = time.time_ns() // 1000
        live = [
            upsert(owner, opponent, now + i, metadata="live", timestamp=2_000_000_000)
            for i, (owner, opponents) in enumerate(legacy.items_by_owner()[::2])
            for opponent in list(opponents)[:2]
        ]

        async def race() -> None:
            source = RedisLegacySource(
                aioredis.from_url(settings.redis_url), spec, layout, page_keys=50
            )
            async with Publisher(
                settings.kafka_bootstrap_servers, settings.topic, settings.tables, "snap"
            ) as pub:
                snap = asyncio.create_task(
                    run_snapshot(
                        source, pub, settings.tables, Checkpoint(tmp_path / "cp.json"), max_rate=400
                    )
                )
                for i in range(0, len(live), 5):
                    await pub.publish(live[i : i + 5])
                    await asyncio.sleep(0.05)
                await snap
            await source.close()

        asyncio.run(race())
        snapshot_events = [
            snapshot_event(item, "redis-legacy", settings.tables) for item in legacy.source_items()
        ]
        wait_for_fold(settings, snapshot_events + live, worker)
    finally:
        worker.stop()
        client.close()


class _Legacy(dict[int, dict[str, dict[str, Any]]]):
    def source_items(self) -> list[SourceItem]:
        return [
            SourceItem("opponents", {"owner_id": owner, "opponent_id": opponent}, data)
            for owner, opponents in self.items_by_owner()
            for opponent, data in opponents.items()
        ]

    def items_by_owner(self) -> list[tuple[str, dict[str, dict[str, Any]]]]:
        return [(f"{n},{'abcdefghijklmnopqrstuvwxyz'[n % 26]}", v) for n, v in self.items()]


async def _generate_legacy(
    settings: Settings, layout: LegacyLayout, owners: int, per_owner: int
) -> _Legacy:
    spec = settings.tables["opponents"]
    client = aioredis.from_url(settings.redis_url)
    await generate_legacy_data(client, spec, owners=owners, per_owner=per_owner, layout=layout)
    chunks = await read_all(RedisLegacySource(client, spec, layout))
    legacy = _Legacy()
    for item in items_of(chunks).values():
        owner_n = int(item.key["owner_id"].split(",")[0])
        legacy.setdefault(owner_n, {})[item.key["opponent_id"]] = item.data
    return legacy


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_snapshot_resumes_and_delivers_every_item(
    services: Services, tmp_path: Path, workers: int
) -> None:
    settings = services.settings()
    layout = unique_layout()
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, changes_topics(settings.changes)))
    legacy = asyncio.run(_generate_legacy(settings, layout, owners=300, per_owner=10))
    checkpoint = tmp_path / "snap.json"
    argv = [sys.executable, "-m", "streams.cli.main", "snapshot", "--source", "redis-legacy",
            "--zset-pattern", layout.zset_pattern, "--meta-pattern", layout.meta_pattern,
            "--checkpoint", str(checkpoint), "--chunk", "100", "--workers", str(workers),
            "--max-rate", "1000"]  # fmt: skip
    env = services.env(settings) | {"PYTHONUNBUFFERED": "1"}
    with (tmp_path / "first.log").open("wb") as log:
        first = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while _published(tmp_path) < 500:
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    parts = _children(first.pid)  # with workers: the parts, and multiprocessing's tracker
    assert len(parts) >= (workers if workers > 1 else 0)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    _wait_gone(parts)  # a part never outlives its parent
    cursors = [json.loads(path.read_text())["cursor"] for path in tmp_path.glob("snap*.json")]
    assert len(cursors) == workers and "done" not in cursors
    if workers > 1:  # a part's checkpoint is only good for its own split
        other = subprocess.run([*argv[:-4], "--resume"], env=env, capture_output=True,
                               text=True, timeout=60, check=False)  # fmt: skip
        assert other.returncode == 2 and f"--workers {workers}" in other.stderr
    resumed = subprocess.run(
        [*argv[:-2], "--resume"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    cursors = [json.loads(path.read_text())["cursor"] for path in tmp_path.glob("snap*.json")]
    assert cursors == ["done"] * workers
    published = asyncio.run(read_topic(settings, settings.topic, 3000))
    seen = {}
    for value, _ in published:
        event = json.loads(value)
        seen[(event["key"]["owner_id"], event["key"]["opponent_id"])] = event["data"]
    expected = {(o, p): d for o, opponents in legacy.items_by_owner() for p, d in opponents.items()}
    assert seen == expected
    # Resuming repeats at most the chunk in flight of each part, not the whole source.
    assert len(published) < 2 * len(expected)


def _published(folder: Path) -> int:
    """Items published so far, summed over the run's checkpoints (one per part)."""
    total = 0
    for path in folder.glob("snap*.json"):
        with contextlib.suppress(OSError, ValueError):  # replaced while read: counted next time
            total += json.loads(path.read_text())["counts"].get("published", 0)
    return total


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _wait_gone(pids: list[int], timeout: float = 15) -> None:
    def gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() for pid in pids)

    assert wait_until(gone, timeout, interval=0.1), f"still running: {pids}"
