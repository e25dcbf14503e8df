"""Thousands of malformed messages mixed with valid ones, some with keys built to collide."""

import asyncio
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.dynamodb.source import DynamoDBSource
from streams.cli.main import main
from streams.kafka.publisher import Publisher
from streams.model.events import ChangeEvent, decode_event
from streams.model.tables import DEFAULT_TABLES as TABLES
from streams.settings import Settings
from streams.stores import dynamodb_client, open_store
from tests.conftest import Services
from tests.support import delete, upsert, visible_state
from tests.support.worker import (
    WorkerProcess,
    read_topic,
    snapshot_into_stores,
    wait_for_fold,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MALFORMED = 10_000
DYNAMODB_ONLY = 30
TRICKY_KEYS = [
    "a:b",
    "a",
    "b",
    "a%3Ab",
    "{x}",
    "x}",
    "é",
    "e\u0301",
    "a\nb",
    " ",
    "a:i:b",
    "\u202e",
    "💥",
]


def _event(template: dict[str, Any], **changes: Any) -> bytes:
    event = {k: v for k, v in template.items() if changes.get(k, 0) is not _DROP}
    event.update({k: v for k, v in changes.items() if v is not _DROP})
    return json.dumps(event).encode()


_DROP = object()


def malformed(rng: random.Random, template: dict[str, Any]) -> tuple[bytes, str]:
    """One message that can never apply, and the reason the worker must give."""
    field = rng.choice(["table", "op", "key", "ts", "origin", "event_id"])
    makers: list[tuple[Callable[[], bytes], str]] = [
        (lambda: b"\xff" + rng.randbytes(rng.randrange(64)), "not_json"),  # never JSON
        (lambda: json.dumps(rng.choice([[1, 2], 3, "text", None])).encode(), "schema"),
        (lambda: _event(template, **{field: _DROP}), "schema"),
        (
            lambda: _event(
                template, **{rng.choice(["ts", "key", "op"]): rng.choice(["1", [1], 1.5])}
            ),
            "schema",
        ),
        (lambda: _event(template, ts=rng.choice([-1, 2**60, -(2**40)])), "schema"),
        (lambda: _event(template, table=f"unknown-{rng.randrange(100)}"), "unknown_table"),
        (lambda: _event(template, key=rng.choice(BAD_KEYS)), "bad_key"),
        (lambda: _event(template, data=rng.choice(BAD_DATA)), "bad_data"),
        (lambda: _event(template).replace(b'"metadata": "m"', b'"metadata": NaN'), "bad_data"),
        (lambda: _event(template, data={"timestamp": rng.choice(NOT_DOUBLES)}), "bad_data"),
    ]
    weights = [10, 10, 10, 10, 10, 10, 10, 10, 10, 5]
    make, reason = rng.choices(makers, weights)[0]
    return make(), reason


BAD_KEYS = [
    {"owner_id": "x"},
    {"owner_id": "x", "opponent_id": "y", "z": "w"},
    {"opponent_id": "y"},
]
# Index values a double (a Redis score) would give back changed.
NOT_DOUBLES = [2**53 + 1, 10**23 + 1, 2**60]
# What Redis holds and DynamoDB cannot: 39 significant digits, out of its range, a key it
# refuses, over 400 KB. Each such event is its own item: dead-lettered once, for DynamoDB.
DYNAMODB_ONLY_NUMBERS = ["0.123456789012345678901234567890123456789", "1e126", "-1e-131",
                         "1" * 39, str(10**50 + 1), "1e300"]  # fmt: skip


def dynamodb_only(rng: random.Random, n: int) -> ChangeEvent:
    """A valid event, item `n` of its own, that DynamoDB cannot hold."""
    key = {"owner_id": f"dyn{n}", "opponent_id": "p"}
    data = f'{{"n": {rng.choice(DYNAMODB_ONLY_NUMBERS)}}}'
    kind = rng.choices(["number", "empty key", "long key", "large"], [20, 3, 3, 0.3])[0]
    if kind == "empty key":
        key["opponent_id"] = ""
    elif kind == "long key":
        key["opponent_id"] = "k" * 1025
    elif kind == "large":
        data = json.dumps({"blob": "x" * 410_000})
    envelope = {"table": "opponents", "op": "upsert", "key": key, "data": "@",
                "ts": 30_000 + n, "origin": "fuzz", "event_id": f"d{n}"}  # fmt: skip
    return decode_event(json.dumps(envelope).replace('"@"', data).encode(), TABLES)


# Numbers that must come back exactly from both stores (2^53 and above, 1e23, long decimals).
GOOD_NUMBERS = [
    "9007199254740993", "1e23", "1.5e18", "1e125", "1E+100", "-0.5e-129",
    "1.0000000000000000000001", "0.12345678901234567890123456789",
    "12345678901234567890123456789012345678",
]  # fmt: skip
GOOD_INDEX = ["9007199254740992", "1e23", "0.1", "400.5", "1.5e18"]


def exact_event(rng: random.Random, owner: str, opponent: str, ts: int) -> ChangeEvent:
    """A valid upsert whose numbers are written as JSON text, decoded as the worker does."""
    numbers = ", ".join(f'"n{i}": {rng.choice(GOOD_NUMBERS)}' for i in range(3))
    nested = f'"l": [{rng.choice(GOOD_NUMBERS)}, {{"m": {rng.choice(GOOD_NUMBERS)}}}]'
    data = f'{{"timestamp": {rng.choice(GOOD_INDEX)}, {numbers}, {nested}}}'
    envelope = {"table": "opponents", "op": "upsert", "key": {"owner_id": owner,
                "opponent_id": opponent}, "data": "@", "ts": ts, "origin": "fuzz",
                "event_id": f"n{ts}"}  # fmt: skip
    return decode_event(json.dumps(envelope).replace('"@"', data).encode(), TABLES)


BAD_DATA = [
    {"timestamp": "now"},
    {"": "no name"},
    {"owner_id": "dup"},
]


def test_malformed_messages_are_dead_lettered_valid_ones_applied_keys_never_collide(
    services: Services, env_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = env_settings
    rng = random.Random(11)
    template = json.loads(upsert("o", "p", 1, metadata="m").to_json())
    pairs = [(owner, opponent) for owner in TRICKY_KEYS for opponent in TRICKY_KEYS[:6]]
    valid = [
        upsert(owner, opponent, ts + 1, metadata=f"{owner}|{opponent}|{ts}", timestamp=ts)
        for ts, (owner, opponent) in enumerate(pairs)
    ]
    valid += [delete(TRICKY_KEYS[0], TRICKY_KEYS[1], 10_000)]
    valid += [exact_event(rng, "numbers", f"p{i}", 20_000 + i) for i in range(40)]
    redis_only = [dynamodb_only(rng, n) for n in range(DYNAMODB_ONLY)]
    valid += redis_only
    expected_reasons: dict[str, int] = {"rejected_by_store": DYNAMODB_ONLY}
    bad = []
    for _ in range(MALFORMED):
        value, reason = malformed(rng, template)
        bad.append(value)
        expected_reasons[reason] = expected_reasons.get(reason, 0) + 1

    async def send() -> None:
        async with Publisher(
            settings.kafka_bootstrap_servers, settings.topic, settings.tables, "fuzz"
        ) as pub:
            step = len(bad) // len(valid) + 1
            for i, event in enumerate(valid):
                await pub.publish([event])
                await pub.send_messages(
                    [(b"junk", value) for value in bad[i * step : (i + 1) * step]]
                )

    asyncio.run(send())
    worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
    try:
        wait_for_fold(settings, valid, worker, ["redis"], timeout=240)
        wait_for_fold(settings, [e for e in valid if e not in redis_only], worker, ["dynamodb"])
        assert worker.alive()
    finally:
        worker.stop()
    letters = asyncio.run(read_topic(settings, settings.dlq_topic, MALFORMED))
    got: dict[str, int] = {}
    for _, headers in letters:
        got[headers["cdc.error.reason"]] = got.get(headers["cdc.error.reason"], 0) + 1
    assert got == expected_reasons
    assert main(["verify"]) == 0  # every tricky key is its own item in both stores
    live = len(visible_state(valid, settings.tables))
    out = capsys.readouterr().out
    assert f"dynamodb {live - DYNAMODB_ONLY}, dynamodb_cannot_hold {DYNAMODB_ONLY}" in out, out
    assert f"redis {live}" in out


def random_attribute(rng: random.Random, depth: int = 0) -> tuple[dict[str, Any], bool]:
    """A random DynamoDB attribute value, and whether a change event can carry it unaltered."""
    kind = rng.choice(
        ["S", "N", "N", "BOOL", "NULL", "M", "L", "SS", "NS", "BS", "B"][: 11 - depth]
    )
    if kind in ("M", "L") and depth < 3:
        children = [random_attribute(rng, depth + 1) for _ in range(rng.randrange(3))]
        values = [value for value, _ in children]
        carried = all(ok for _, ok in children)
        if kind == "L":
            return {"L": values}, carried
        return {"M": {f"k{i}": value for i, value in enumerate(values)}}, carried
    simple: dict[str, Any] = {
        "S": rng.choice(["", "é", "a\nb", "x" * 30]),
        "N": rng.choice(GOOD_NUMBERS),
        "BOOL": rng.random() < 0.5,
        "NULL": True,
        "SS": ["a", "b"],
        "NS": ["1", "2.5"],
        "BS": [b"\x00"],
        "B": bytes(rng.randrange(256) for _ in range(3)),
    }
    kind = kind if kind in simple else "S"
    return {kind: simple[kind]}, kind not in ("SS", "NS", "BS", "B")


def test_a_dynamodb_snapshot_of_random_items_changes_none_and_copies_what_events_carry(
    env_settings: Settings, tmp_path: Path
) -> None:
    settings, rng = env_settings, random.Random(12)
    spec = settings.tables["opponents"]
    table = spec.physical_name("opponents")
    client = dynamodb_client(settings.dynamodb)
    carried: set[str] = set()
    raws = {}
    for i in range(120):
        name = f"p{i}"
        raw: dict[str, Any] = {"owner_id": {"S": "fuzz"}, "opponent_id": {"S": name}}
        ok = True
        for a in range(rng.randrange(1, 4)):
            raw[f"a{a}"], fits = random_attribute(rng)
            ok &= fits
        if rng.random() < 0.2:
            index = rng.choice(GOOD_INDEX + [str(n) for n in NOT_DOUBLES])
            raw["timestamp"] = {"N": index}
            ok &= index in GOOD_INDEX
        if rng.random() < 0.05:
            raw["_created_by"], ok = {"S": "admin"}, False
        client.put_item(TableName=table, Item=raw)
        raws[name] = raw
        if ok:
            carried.add(name)
    source = DynamoDBSource(client, "opponents", spec, segments=2)
    summary = asyncio.run(snapshot_into_stores(settings, source, tmp_path / "cp.json"))
    assert summary.counts == {"published": len(carried), "problems": len(raws) - len(carried)}
    assert all(json.loads(p.key)["opponent_id"] not in carried for p in summary.samples)
    scanned = client.scan(TableName=table, ConsistentRead=True)["Items"]
    assert {item["opponent_id"]["S"]: item for item in scanned} == raws  # nothing changed

    async def read_back() -> None:
        redis, dynamo = open_store(settings, "redis"), open_store(settings, "dynamodb")
        try:
            for name in sorted(carried):
                key = {"owner_id": "fuzz", "opponent_id": name}
                assert await redis.get("opponents", key) == await dynamo.get("opponents", key)
        finally:
            await redis.close()
            await dynamo.close()

    asyncio.run(read_back())
