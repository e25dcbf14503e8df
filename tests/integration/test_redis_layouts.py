"""The `hash` and `template` Redis layouts: what a reader sees, what verify compares, and the
cluster check. (The LWW property test runs for every layout in test_stores and test_cluster.)"""

import asyncio
import json
import random
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis

from connectors.redis.layouts import ItemLayout
from connectors.redis.templates import fill
from connectors.store import Store
from streams.cli.main import main
from streams.kafka.records import RawRecord, Record
from streams.kafka.topics import changes_topics, ensure_topics
from streams.model.errors import InvalidEventError
from streams.model.events import ChangeEvent
from streams.model.numbers import plain
from streams.retry import Backoff
from streams.settings import Settings
from streams.stores import open_redis, open_store
from tests.conftest import Services
from tests.integration.test_fuzz import TRICKY_KEYS, exact_event
from tests.support import (
    REDIS_LAYOUTS,
    EveryStore,
    MemoryDeadLetters,
    delete,
    upsert,
    with_redis_layout,
)
from tests.support.worker import (
    WorkerProcess,
    publish,
    read_topic,
    wait_for_fold,
    write_direct,
)

pytestmark = pytest.mark.integration


def raw(settings: Settings) -> Any:  # redis-py's sync replies are typed for both APIs
    return redis.Redis.from_url(settings.redis_url)


def test_a_reader_sees_one_hash_field_per_attribute_with_exact_numbers(settings: Settings) -> None:
    settings = with_redis_layout(settings, REDIS_LAYOUTS["hash"])
    owner = uuid.uuid4().hex
    event = exact_event(random.Random(3), owner, "p", 7)
    text = upsert(owner, "t", 8, metadata="hello", timestamp=5, nested={"a": [1, "x"]}, ok=True)
    asyncio.run(write_direct(settings, "redis", [event, text]))
    client = raw(settings)
    try:
        held = client.hgetall(f"opponents:{{{owner}}}:t")
        assert held == {b"metadata": b"hello", b"timestamp": b"5",
                        b"nested": b'{"a":[1,"x"]}', b"ok": b"true"}  # fmt: skip
        numbers = client.hgetall(f"opponents:{{{owner}}}:p")
        data = event.data or {}
        assert {k.decode() for k in numbers} == set(data)
        for name in ("n0", "n1", "n2", "timestamp"):  # decimal text, no float on the way
            assert Decimal(numbers[name.encode()].decode()) == data[name], name
        assert set(client.zrange(f"opponents:idx:{{{owner}}}", 0, -1)) == {b"t", b"p"}
        assert client.exists(f"{settings.redis_key_prefix}:v:opponents:{{{owner}}}:t")
        asyncio.run(write_direct(settings, "redis", [delete(owner, "t", 9)]))
        assert not client.exists(f"opponents:{{{owner}}}:t")
        assert client.zscore(f"opponents:idx:{{{owner}}}", "t") is None
    finally:
        client.close()
    expected = {"owner_id": owner, "opponent_id": "p", **plain(event.data or {})}
    assert asyncio.run(get(settings, owner, "p")) == expected


def test_an_empty_id_is_listed_as_the_empty_member(settings: Settings) -> None:
    """An application may list '' (ZADD accepts it): the item is listed, then unlisted."""
    settings = with_redis_layout(settings, REDIS_LAYOUTS["template"])
    owner = uuid.uuid4().hex[:8]
    events = [upsert(owner, "", 5, metadata="empty", timestamp=100),
              upsert(owner, "b", 6, metadata="bee", timestamp=50)]  # fmt: skip
    asyncio.run(write_direct(settings, "redis", events))
    client = raw(settings)
    try:
        members = client.zrevrange(f"opponents:{owner}", 0, -1, withscores=True)
        assert members == [(b"", 100.0), (b"b", 50.0)]
        assert client.get(f"opponent:{owner}:") == b"empty"
        asyncio.run(write_direct(settings, "redis", [delete(owner, "", 7)]))
        assert client.zrange(f"opponents:{owner}", 0, -1) == [b"b"]
        assert client.get(f"opponent:{owner}:") is None
    finally:
        client.close()


async def get(settings: Settings, owner: str, opponent: str, store_name: str = "redis") -> object:
    store = open_store(settings, store_name)
    try:
        return await store.get("opponents", {"owner_id": owner, "opponent_id": opponent})
    finally:
        await store.close()


def test_a_legacy_reader_sees_the_legacy_apps_layout(settings: Settings) -> None:
    settings = with_redis_layout(settings, REDIS_LAYOUTS["template"])
    owner = f"{uuid.uuid4().hex[:6]},a"
    events = [
        upsert(owner, "2,b", 5, metadata="hi", timestamp=100),
        upsert(owner, "3,c", 6, metadata="yo", timestamp=300),
        upsert(owner, "3,c", 4, metadata="older, ignored", timestamp=999),
        upsert(owner, "4,d", 7, metadata="gone", timestamp=200),
        delete(owner, "4,d", 8),
        upsert(owner, "4,d", 3, metadata="late older upsert", timestamp=500),
    ]
    asyncio.run(write_direct(settings, "redis", events))
    client = raw(settings)
    try:  # the application's read path: ZREVRANGE, then MGET
        members = client.zrevrange(f"opponents:{owner}", 0, -1, withscores=True)
        assert members == [(b"3,c", 300.0), (b"2,b", 100.0)]
        keys = [f"opponent:{owner}:{m.decode()}" for m, _ in members]
        assert client.mget(keys) == [b"yo", b"hi"]
        assert client.get(f"opponent:{owner}:4,d") is None
    finally:
        client.close()

    async def listing() -> list[object]:
        store = open_redis(settings)
        try:
            return list(await store.list_partition("opponents", owner, 10))
        finally:
            await store.close()

    assert asyncio.run(listing()) == [
        {"owner_id": owner, "opponent_id": "3,c", "metadata": "yo", "timestamp": 300},
        {"owner_id": owner, "opponent_id": "2,b", "metadata": "hi", "timestamp": 100},
    ]


def test_an_upsert_the_template_cannot_hold_reaches_neither_store(
    env_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:  # fmt: skip
    """Refused by the publisher and dead-lettered once by the worker's decode, never rejected by
    Redis after DynamoDB took it; what DynamoDB took before is not republished by a repair."""
    settings = with_redis_layout(env_settings, REDIS_LAYOUTS["template"])
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    owner = uuid.uuid4().hex
    tags = upsert(owner, "tags", 1, metadata="m", timestamp=1, tags=["x"])
    bare = upsert(owner, "bare", 1, timestamp=2)
    good = upsert(owner, "good", 1, metadata="m", timestamp=3)
    with pytest.raises(InvalidEventError, match="holds no attribute 'tags'"):
        asyncio.run(publish(settings, [tags]))
    lines = tmp_path / "events.jsonl"
    lines.write_bytes(bare.to_json() + b"\n")
    assert main(["publish", str(lines)]) == 2
    assert "redis: the template layout of opponents needs 'metadata'" in capsys.readouterr().err

    dead_letters = MemoryDeadLetters()
    stores = [open_store(settings, name) for name in ("redis", "dynamodb")]
    replicator = EveryStore(settings.tables, stores, dead_letters, Backoff())
    values = [tags.to_json(), bare.to_json(), good.to_json()]
    records = [RawRecord(settings.topic, 0, n, b"k", v) for n, v in enumerate(values)]
    report = asyncio.run(replicate(replicator, records, stores))
    assert dead_letters.reasons() == ["bad_data", "bad_data"]
    assert all(o.applied == 1 and not o.rejected for o in report.outcomes.values())
    for store_name in ("redis", "dynamodb"):
        assert asyncio.run(get(settings, owner, "tags", store_name)) is None, store_name
        assert asyncio.run(get(settings, owner, "good", store_name)) is not None, store_name

    # Taken by DynamoDB before the rule: verify names it, and a repair does not republish it.
    asyncio.run(write_direct(settings, "dynamodb", [tags]))
    assert main(["verify", "--repair"]) == 1
    out = capsys.readouterr().out
    assert "missing_in_redis 1" in out and "republished 0, unrepairable 1" in out, out
    assert "could not republish" in out and "holds no attribute 'tags'" in out, out


async def replicate(replicator: EveryStore, records: Sequence[Record], stores: list[Store]) -> Any:
    try:
        return await replicator.process(records)
    finally:
        for store in stores:
            await store.close()


@pytest.mark.parametrize("layout", ["hash", "template"])
def test_tricky_keys_stay_distinct_and_verify_compares_the_layout(
    env_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    layout: str,
) -> None:
    settings = with_redis_layout(env_settings, REDIS_LAYOUTS[layout])
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    tag = uuid.uuid4().hex[:6]
    pairs = [(f"{tag}{owner}", opponent) for owner in TRICKY_KEYS for opponent in TRICKY_KEYS]
    events = [upsert(o, p, 1, metadata=f"{o}|{p}", timestamp=i) for i, (o, p) in enumerate(pairs)]
    events.append(delete(*pairs[0], 2))
    for store in ("redis", "dynamodb"):
        asyncio.run(write_direct(settings, store, events))
    for owner, opponent in pairs[1:40]:
        item = asyncio.run(get(settings, owner, opponent))
        assert isinstance(item, dict) and item["metadata"] == f"{owner}|{opponent}"
    assert main(["verify"]) == 0, capsys.readouterr()
    assert f"redis {len(pairs) - 1}" in capsys.readouterr().out
    client = raw(settings)  # plant drift where a reader reads
    try:
        owner, opponent = pairs[5]  # "a:b" and "{x}" in it, as they are
        key = fill(
            "opponents:{{owner_id}}:{opponent_id}" if layout == "hash"
            else "opponent:{owner_id}:{opponent_id}",
            {"owner_id": owner, "opponent_id": opponent},
        )  # fmt: skip
        if layout == "hash":
            assert client.hget(key, "metadata") == f"{owner}|{opponent}".encode()
            client.hset(key, "metadata", "corrupt")
        else:
            assert client.get(key) == f"{owner}|{opponent}".encode()
            client.set(key, "corrupt")
    finally:
        client.close()
    assert main(["verify"]) == 1


@pytest.mark.parametrize("layout", ["hash", "template"])
def test_a_snapshot_never_changes_data_the_readers_application_wrote(
    env_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    layout: str,
) -> None:
    topic = f"adopt-{uuid.uuid4().hex[:8]}"  # where the repair goes, and nothing else
    settings = with_redis_layout(env_settings, REDIS_LAYOUTS[layout]).model_copy(
        update={"topic": topic}
    )
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    monkeypatch.setenv("CDC_TOPIC", topic)
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, changes_topics(settings.changes)))
    owner = uuid.uuid4().hex
    client = raw(settings)
    try:  # the reader's application wrote this item before the replicator ran
        if layout == "hash":
            key = f"opponents:{{{owner}}}:p"
            client.hset(key, mapping={"metadata": "theirs"})
        else:
            key = f"opponent:{owner}:p"
            client.set(key, "theirs")
        snapshot = upsert(owner, "p", 0, "snapshot:dynamodb", "digest", metadata="ours")
        asyncio.run(write_direct(settings, "redis", [snapshot]))
        asyncio.run(write_direct(settings, "dynamodb", [snapshot]))
        held = client.hgetall(key) if layout == "hash" else client.get(key)
        assert held in ({b"metadata": b"theirs"}, b"theirs")  # untouched
        item = {"owner_id": owner, "opponent_id": "p", "metadata": "theirs"}
        assert asyncio.run(get(settings, owner, "p")) == item  # seen, with the snapshot's version
        assert main(["verify"]) == 1  # the data differs at one version: drift, not agreement
        assert "data_differs" in capsys.readouterr().out
        assert main(["verify", "--repair", "--prefer", "dynamodb"]) == 1
        ((value, _),) = asyncio.run(read_topic(settings, topic, 1))
        repair = ChangeEvent.model_validate_json(value)
        assert repair.ts > 0 and repair.data == {"metadata": "ours"}  # above the snapshot's
        asyncio.run(write_direct(settings, "redis", [repair]))
        assert asyncio.run(get(settings, owner, "p")) == {**item, "metadata": "ours"}
    finally:
        client.close()


def test_the_worker_refuses_a_cluster_for_keys_without_a_shared_hash_tag(
    services: Services, tmp_path: Path
) -> None:
    base = services.settings(redis_url="redis+cluster://127.0.0.1:1/0")
    settings = with_redis_layout(base, REDIS_LAYOUTS["template"])
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, changes_topics(settings.changes)))
    worker = WorkerProcess(services, settings, tmp_path / "worker.log", stores="redis")
    code = worker.start().exit_code()
    log = worker.log.read_text()
    assert code == 2, log
    assert log.splitlines()[-1] == (
        "error: CDC_REDIS_URL is a Redis Cluster, but table opponents's keys "
        "'opponent:{owner_id}:{opponent_id}' and 'opponents:{owner_id}' may hash to different "
        "slots (one script writes them and their versions); give them one hash tag, e.g. "
        "'opponent:{{owner_id}}:{opponent_id}' and 'opponents:{{owner_id}}'"
    ), log


def test_the_legacy_source_reads_the_template_layout_the_worker_writes(
    env_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before cutover: what the legacy readers read agrees with DynamoDB and the Redis store."""
    tag = uuid.uuid4().hex[:8]
    zset, meta = f"{tag}:opponents:{{owner_id}}", f"{tag}:opponent:{{owner_id}}:{{opponent_id}}"
    layout = REDIS_LAYOUTS["template"].model_copy(update={"index_key": zset, "key": meta})
    settings = with_redis_layout(env_settings, layout)
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    events = [
        upsert("1,a", "2,b", 5, metadata="hi", timestamp=100),
        upsert("1,a", "2,b", 5, metadata="hi", timestamp=100),  # redelivered
        upsert("1,a", "3,c", 7, metadata="new", timestamp=300),
        upsert("1,a", "3,c", 6, metadata="old", timestamp=200),  # out of order: loses
        upsert("4,d", "2,b", 5, metadata="gone", timestamp=1),
        delete("4,d", "2,b", 9),
    ]
    for store in ("redis", "dynamodb"):
        asyncio.run(write_direct(settings, store, events))
    legacy = ["verify", "--source", "redis-legacy", "--zset-pattern", zset, "--meta-pattern", meta]
    for store in ("dynamodb", "redis"):
        assert main([*legacy, "--store", store]) == 0, capsys.readouterr()
        assert "agree; compared 2" in capsys.readouterr().out


@pytest.mark.parametrize("layout", ["hash", "template"])
def test_a_batch_of_one_table_is_one_script_call_per_hundred_items(
    settings: Settings, layout: str
) -> None:
    settings = with_redis_layout(settings, REDIS_LAYOUTS[layout])
    owner = uuid.uuid4().hex
    events = [upsert(owner, f"p{i}", 1, metadata="m", timestamp=i) for i in range(150)]
    batch = {e.item_id(settings.tables["opponents"]): e for e in events}

    async def calls() -> tuple[int, int]:
        store = open_redis(settings)
        try:
            outcome = await store.write(batch)
            by_script = store._by_script(batch, outcome, [])
            [(script, writes)] = by_script.items()
            return len(store._groups(writes, script.slot_key)), outcome.applied
        finally:
            await store.close()

    assert asyncio.run(calls()) == (2, 150)


def test_the_worker_maintains_the_legacy_apps_layout_from_the_topic(
    services: Services, tmp_path: Path
) -> None:
    settings = with_redis_layout(services.settings(), REDIS_LAYOUTS["template"])
    owner = f"{uuid.uuid4().hex[:6]},a"
    events = [
        upsert(owner, "2,b", 5, metadata="hi", timestamp=100),
        upsert(owner, "3,c", 7, metadata="new", timestamp=300),
        upsert(owner, "3,c", 6, metadata="old", timestamp=200),
        upsert(owner, "4,d", 5, metadata="gone", timestamp=1),
        delete(owner, "4,d", 9),
    ]
    asyncio.run(publish(settings, [*events, events[0]]))
    worker = WorkerProcess(services, settings, tmp_path / "worker.log", stores="redis").start()
    try:
        wait_for_fold(settings, events, worker, stores=["redis"], timeout=120)
    finally:
        worker.stop()
    client = raw(settings)
    try:
        assert client.zrevrange(f"opponents:{owner}", 0, -1) == [b"3,c", b"2,b"]
        assert client.mget([f"opponent:{owner}:3,c", f"opponent:{owner}:2,b"]) == [b"new", b"hi"]
    finally:
        client.close()


@pytest.mark.parametrize("layout", ["hash", "template"])
def test_an_item_whose_data_key_was_deleted_is_missing(
    env_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    layout: str,
) -> None:
    """Its bookkeeping alone is no item: `get` finds nothing, verify says missing_in_redis."""
    settings = with_redis_layout(env_settings, REDIS_LAYOUTS[layout])
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    owner, opponent = f"t2 ключ/✓{uuid.uuid4().hex[:6]}", "x:{y}"
    events = [upsert(owner, opponent, 1, metadata="m", timestamp=1)]
    for store in ("redis", "dynamodb"):
        asyncio.run(write_direct(settings, store, events))
    spec = settings.tables["opponents"]
    data_key = ItemLayout("opponents", spec, settings.redis_key_prefix).data_key(
        events[0].item_id(spec)
    )
    client = raw(settings)
    try:
        assert client.delete(data_key) == 1
    finally:
        client.close()
    assert asyncio.run(get(settings, owner, opponent)) is None
    key = [f"owner_id={owner}", f"opponent_id={opponent}"]
    assert main(["get", "--store", "redis", "opponents", *key]) == 1
    capsys.readouterr()
    code = main(["verify", "--json"])
    [report] = json.loads(capsys.readouterr().out)
    assert code == 1 and report["counts"].get("missing_in_redis") == 1, report
    assert "data_differs" not in report["counts"]


def test_bookkeeping_an_earlier_layout_left_is_a_note_not_a_crash(
    env_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make demo` after a change of key template: two bookkeeping keys name each item."""
    before = with_redis_layout(env_settings, REDIS_LAYOUTS["template"])
    tag = uuid.uuid4().hex[:6]
    moved = REDIS_LAYOUTS["template"].model_copy(
        update={"key": f"{tag}:opponent:{{owner_id}}:{{opponent_id}}",
                "index_key": f"{tag}:opponents:{{owner_id}}"}
    )  # fmt: skip
    after = with_redis_layout(env_settings, moved)
    monkeypatch.setenv("CDC_TABLES", after.as_env()["CDC_TABLES"])
    owner = uuid.uuid4().hex
    events = [upsert(owner, f"{i},b", 1, metadata="m", timestamp=i) for i in range(3)]
    asyncio.run(write_direct(before, "redis", events))
    for store in ("redis", "dynamodb"):
        asyncio.run(write_direct(after, store, events))

    async def read_twice() -> int:  # one page naming an item twice: DynamoDB refuses that
        store = open_store(after, "dynamodb")
        try:
            item = events[0].item_id(after.tables["opponents"])
            return len(await store.read_many("opponents", [item, item]))
        finally:
            await store.close()

    assert asyncio.run(read_twice()) == 1
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    assert "compared 3" in out and "stray_bookkeeping 3" in out, out
    note = next(line for line in out.splitlines() if line.startswith("  note: "))
    assert "3 Redis bookkeeping keys of opponents are not where its layout keeps them" in note
    assert f":v:opponent:{owner}:0,b" in note
