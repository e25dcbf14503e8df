"""verify finds planted drift between the stores, and --repair heals it through the topic."""

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from connectors.redis.layouts import ItemLayout
from connectors.redis.legacy_source import LegacyLayout, generate_legacy_data
from connectors.redis.store import RedisKeys
from streams.cli.main import main
from streams.model.events import ItemId, decode_event
from streams.settings import Settings
from streams.stores import dynamodb_client, open_store
from tests.conftest import Services
from tests.support import REDIS_LAYOUTS, delete, upsert, with_redis_layout
from tests.support.worker import WorkerProcess, read_topic, wait_caught_up, write_direct

pytestmark = [pytest.mark.integration, pytest.mark.emulators]


def verify_json(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["verify", "--json", *extra])
    [report] = json.loads(capsys.readouterr().out)
    return code, report


def test_verify_finds_planted_drift_and_repair_heals_it(
    services: Services, env_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = env_settings
    owner = uuid.uuid4().hex
    common = [upsert(owner, f"p{i}", 10 + i, metadata=f"m{i}", timestamp=i) for i in range(20)]
    common += [delete(owner, "p19", 50)]
    asyncio.run(write_direct(settings, "redis", common))
    asyncio.run(write_direct(settings, "dynamodb", common))
    code, report = verify_json(capsys)
    assert code == 0 and report["agree"]
    assert report["counts"] == {"compared": 20, "redis": 19, "dynamodb": 19}

    # Plant one drift of each kind.
    keys, client = RedisKeys(settings.redis_key_prefix), redis.Redis.from_url(settings.redis_url)
    client.delete(keys.item(ItemId("opponents", owner, "p0")))  # missing in Redis
    extra, newer = upsert(owner, "extra", 5, metadata="x"), upsert(owner, "p2", 99, metadata="new")
    asyncio.run(write_direct(settings, "redis", [extra]))
    client.hset(
        keys.item(ItemId("opponents", owner, "p1")),
        "d",
        json.dumps({"metadata": "corrupt", "timestamp": 1}),
    )
    asyncio.run(write_direct(settings, "dynamodb", [newer]))
    client.close()

    code, report = verify_json(capsys)
    assert code == 1 and not report["agree"]
    counts = report["counts"]
    assert counts["missing_in_redis"] == 1 and counts["missing_in_dynamodb"] == 1
    assert counts["data_differs"] == 2  # the corrupted one, and the newer write Redis missed
    assert {tuple(s["key"])[2] for s in report["samples"]["data_differs"]} == {"p1", "p2"}

    code, report = verify_json(capsys, "--repair")
    assert code == 1 and report["counts"]["republished"] == 4
    worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
    try:
        wait_caught_up(settings, worker)
    finally:
        worker.stop()
    code, report = verify_json(capsys)
    assert code == 0, report
    item = asyncio.run(read(settings, "redis", owner, "p1"))
    assert item is not None and item["metadata"] == "m1"  # DynamoDB's data won the tie


async def read(
    settings: Settings, store_name: str, owner: str, opponent: str
) -> dict[str, Any] | None:
    store = open_store(settings, store_name)
    try:
        return await store.get("opponents", {"owner_id": owner, "opponent_id": opponent})
    finally:
        await store.close()


def test_verify_a_store_against_the_legacy_source(
    services: Services, env_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = env_settings
    tag = uuid.uuid4().hex[:8]
    layout = LegacyLayout(
        zset_pattern=f"{tag}:o:{{owner_id}}", meta_pattern=f"{tag}:m:{{owner_id}}:{{opponent_id}}"
    )
    spec = settings.tables["opponents"]

    async def generate() -> None:
        client = aioredis.from_url(settings.redis_url)
        await generate_legacy_data(client, spec, owners=5, per_owner=4, layout=layout)
        await client.aclose()

    asyncio.run(generate())
    flags = [
        "--source",
        "redis-legacy",
        "--zset-pattern",
        layout.zset_pattern,
        "--meta-pattern",
        layout.meta_pattern,
    ]
    assert main(["snapshot", *flags]) == 0
    capsys.readouterr()
    code, report = verify_json(capsys, *flags)
    assert code == 1 and report["counts"]["missing_in_dynamodb"] == 20  # nothing applied yet
    worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
    try:
        wait_caught_up(settings, worker)
    finally:
        worker.stop()
    code, report = verify_json(capsys, *flags)
    assert code == 0 and report["counts"]["compared"] == 20, report
    assert main(["verify"]) == 0  # and the two stores agree with each other


def test_verify_survives_old_items_a_missing_table_and_drift_it_cannot_repair(
    services: Services, env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = env_settings
    owner = uuid.uuid4().hex
    # Written before the replicator: no `_v`, and only in DynamoDB.
    client = dynamodb_client(settings.dynamodb)
    client.put_item(
        TableName=settings.tables["opponents"].physical_name("opponents"),
        Item={"owner_id": {"S": owner}, "opponent_id": {"S": "old"},
              "metadata": {"S": "legacy"}, "timestamp": {"N": "5"}},
    )  # fmt: skip
    # Also old, with types JSON cannot carry: verify must not stumble on them either.
    client.put_item(
        TableName=settings.tables["opponents"].physical_name("opponents"),
        Item={"owner_id": {"S": owner}, "opponent_id": {"S": "blob"},
              "photo": {"B": b"\x00\xff"}, "tags": {"SS": ["a", "b"]}},
    )  # fmt: skip
    client.close()
    # A tie with different data whose event id is already the longest allowed: the repair's
    # "a hair newer" version (event id + "!") cannot be an event.
    longest = "x" * 128
    asyncio.run(write_direct(settings, "redis", [upsert(owner, "tied", 9, event_id=longest)]))
    tied = upsert(owner, "tied", 9, event_id=longest, metadata="other", timestamp=9)
    asyncio.run(write_direct(settings, "dynamodb", [tied]))
    asyncio.run(write_direct(settings, "redis", [upsert(owner, "fresh", 20)]))

    code, report = verify_json(capsys, "--repair")
    counts = report["counts"]
    assert code == 1
    assert (counts["missing_in_redis"], counts["missing_in_dynamodb"], counts["data_differs"]) == (
        1, 1, 1,
    )  # fmt: skip
    # The binary item is a source problem, never an event; every other drift is repaired.
    assert counts["source_problems"] == 1
    assert counts["republished"] == 2 and counts["unrepairable"] == 2
    failures = report["unrepairable"]
    assert any(f'"{owner}", "tied"' in f and "event_id" in f for f in failures)
    assert len(failures) == counts["unrepairable"]

    assert main(["verify", "--repair"]) == 1  # the text summary counts drift, not repairs
    out = capsys.readouterr().out
    assert "DRIFT (4 items)" in out and f"republished {counts['republished']}" in out
    assert "could not republish" in out and "items could not be republished" in out

    assert main(["verify", "--table", "nosuch"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "'nosuch' is not declared" in captured.err


# DynamoDB items no change event can carry unaltered, and the cause verify must name.
UNCARRIED: dict[str, tuple[dict[str, Any], str]] = {
    "sets": (
        {"tags": {"SS": ["x", "y"]}, "nums": {"NS": ["1", "2.5"]}, "timestamp": {"N": "1"}},
        "which JSON cannot carry",
    ),
    "binary": ({"blob": {"B": b"\x00\xff\x01"}, "timestamp": {"N": "2"}}, "binary (B)"),
    "badv": ({"_v": {"S": "garbage"}, "timestamp": {"N": "14"}}, "not a version token"),
    "bigts": ({"_v": {"S": "99999999999999999 o e"}, "timestamp": {"N": "3"}}, "above 2^53"),
}


def test_verify_reports_items_events_cannot_carry_and_never_repairs_them(
    services: Services, env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sets, binary or a malformed `_v` in DynamoDB: source problems with their key and cause,
    unrepairable, and neither store is changed (no set becomes a list, in either direction)."""
    settings, owner = env_settings, uuid.uuid4().hex
    table = settings.tables["opponents"].physical_name("opponents")
    client = dynamodb_client(settings.dynamodb)
    raws = {name: {"owner_id": {"S": owner}, "opponent_id": {"S": name}, **attributes}
            for name, (attributes, _) in UNCARRIED.items()}  # fmt: skip
    for raw in raws.values():
        client.put_item(TableName=table, Item=raw)
    # A Redis copy with sets made lists (what an earlier repair wrote), newer than no `_v`.
    listed = upsert(owner, "sets", 1, tags=["y", "x"], nums=["1", "2.5"], timestamp=1)
    asyncio.run(write_direct(settings, "redis", [listed]))
    before = asyncio.run(read(settings, "redis", owner, "sets"))

    code, report = verify_json(capsys)
    assert code == 1 and report["counts"]["source_problems"] == 4, report
    assert "data_differs" not in report["counts"] and "missing_in_redis" not in report["counts"]
    causes = {s["key"][2]: s["problem"] for s in report["samples"]["source_problems"]}
    assert set(causes) == set(UNCARRIED)
    for name, (_, cause) in UNCARRIED.items():
        assert cause in causes[name], (name, causes[name])

    for prefer in ("dynamodb", "redis"):
        code, report = verify_json(capsys, "--repair", "--prefer", prefer)
        assert code == 1 and report["counts"]["unrepairable"] == 4, report
        assert report["counts"].get("republished", 0) == 0
        for name, (_, cause) in UNCARRIED.items():
            assert any(f'"{owner}", "{name}"' in f and cause in f for f in report["unrepairable"])
    for name, raw in raws.items():  # DynamoDB untouched, byte for byte; Redis as it was
        key = {"owner_id": raw["owner_id"], "opponent_id": raw["opponent_id"]}
        assert client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"] == raw, name
    client.close()
    assert asyncio.run(read(settings, "redis", owner, "sets")) == before
    assert main(["verify"]) == 1
    assert "source_problems" in capsys.readouterr().out


def test_verify_against_a_file_names_each_bad_line_and_goes_on(
    env_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = uuid.uuid4().hex
    path = tmp_path / "items.jsonl"
    lines = [
        {"table": "opponents", "key": {"owner_id": owner, "opponent_id": "ok"}, "data": {"x": 1}},
        {"table": "opponents", "key": {"owner_id": owner, "opponent_id": "p"}, "data": {"": 1}},
        [1, 2],
        {"table": "opponents", "key": {"owner_id": owner}, "data": {"x": 1}},
        {"table": "other", "key": {"owner_id": owner, "opponent_id": "q"}, "data": {}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    flags = ["--source", "jsonl", "--file", str(path)]
    code, report = verify_json(capsys, *flags)
    assert code == 1, report
    counts = report["counts"]
    assert (counts["compared"], counts["missing_in_dynamodb"]) == (1, 1)
    assert counts["source_problems"] == 4
    by_line = {p.split(": ")[0]: p for p in report["problems"]}
    assert set(by_line) == {f"{path}:{n}" for n in (2, 3, 4, 5)}
    assert "bad_data" in by_line[f"{path}:2"] and "''" in by_line[f"{path}:2"]
    assert "not an item line" in by_line[f"{path}:3"] and "bad_key" in by_line[f"{path}:4"]
    assert "'other'" in by_line[f"{path}:5"]
    assert main(["verify", *flags]) == 1
    assert f"source problem: {path}:2: bad_data" in capsys.readouterr().out


@pytest.mark.parametrize("layout", ["cdc", "hash"])
def test_verify_finds_listing_index_drift_and_repair_heals_it(
    env_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    layout: str,
) -> None:  # fmt: skip
    """A member removed from the partition's sorted set, or scored otherwise than its data
    says: `list` no longer shows the item as DynamoDB does."""
    settings = with_redis_layout(env_settings, REDIS_LAYOUTS[layout])
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    owner = uuid.uuid4().hex
    events = [upsert(owner, f"s{i}", 1, metadata="m", timestamp=i) for i in range(5)]
    for store in ("redis", "dynamodb"):
        asyncio.run(write_direct(settings, store, events))
    assert main(["verify"]) == 0
    spec = settings.tables["opponents"]
    if layout == "cdc":
        index = RedisKeys(settings.redis_key_prefix).index("opponents", owner)
    else:
        index = ItemLayout("opponents", spec, settings.redis_key_prefix).index(owner) or ""
    member = "s{}"
    client: Any = redis.Redis.from_url(settings.redis_url)
    try:
        assert client.zrem(index, member.format(4)) == 1
        client.zadd(index, {member.format(1): 99})
    finally:
        client.close()
    capsys.readouterr()
    code, report = verify_json(capsys)
    assert code == 1 and report["counts"]["index_differs"] == 2, report
    reasons = sorted(s["unlisted"] for s in report["samples"]["index_differs"])
    assert reasons == ["listed with score 99.0, but its 'timestamp' is 1",
                       "not in its partition's listing index ('timestamp' 4)"]  # fmt: skip

    code, report = verify_json(capsys, "--repair")
    assert report["counts"]["republished"] == 2
    repairs = asyncio.run(read_topic(settings, settings.topic, 2))
    repaired = [decode_event(value, settings.tables) for value, _ in repairs]
    for store in ("redis", "dynamodb"):
        asyncio.run(write_direct(settings, store, repaired))
    code, report = verify_json(capsys)
    assert code == 0, report


def test_verify_against_dynamodb_takes_its_tombstones_as_gone(
    env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """DynamoDB keeps a deleted item's tombstone for the grace period; Redis, whose tombstone
    expired or was never written, holds nothing: both say the item is gone, no drift."""
    owner = f"user:{uuid.uuid4().hex[:6]}"
    asyncio.run(write_direct(env_settings, "dynamodb", [upsert(owner, "a b", 1, metadata="m",
                                                               timestamp=1),
                                                        delete(owner, "a b", 2)]))  # fmt: skip
    live = [upsert(owner, "50%", 1, metadata="kept", timestamp=2)]
    for store in ("dynamodb", "redis"):
        asyncio.run(write_direct(env_settings, store, live))
    code, report = verify_json(capsys, "--source", "dynamodb", "--store", "redis")
    assert code == 0 and report["counts"]["compared"] == 2, report
