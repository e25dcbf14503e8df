"""A value one store cannot hold: each store takes what it can, the other dead-letters that item
for itself, naming the store, and verify names such items as a known kind, not drift."""

import asyncio
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.cli.main import main
from streams.model.events import ChangeEvent
from streams.model.numbers import plain
from streams.settings import Settings
from streams.stores import dynamodb_client, open_store
from tests.conftest import Services
from tests.support import upsert
from tests.support.worker import WorkerProcess, publish, read_topic, wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.emulators]


def test_each_store_holds_what_it_can_and_dead_letters_the_rest_for_itself(
    services: Services, env_settings: Settings, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    owner = f"user:{uuid.uuid4().hex[:8]}"
    dynamodb_cannot = {  # what DynamoDB refuses and Redis holds, and why DynamoDB does
        "480 KB": (upsert(owner, "big", 1, blob="x" * 480_000), "item is 480,"),
        "a list": (upsert(owner, "list", 1, n=[n % 10 for n in range(150_000)]), "435,"),
        "1.797e308": (upsert(owner, "huge", 1, n=1.797e308), "outside DynamoDB's 1e-130..1e126"),
        "5e-324": (upsert(owner, "tiny", 1, n=5e-324), "outside DynamoDB's"),
        "empty key": (upsert(owner, "", 1), "key attribute 'opponent_id' is 0 bytes"),
        "1,025 bytes": (upsert(owner, "k" * 1025, 1), "'opponent_id' is 1,025 bytes"),
    }
    both = [
        upsert(owner, "meta", 1, _meta={"by": "user:7"}, _v="a column named _v", timestamp=3),
        upsert(owner, "plain", 1, metadata="50%", timestamp=2),
    ]
    asyncio.run(publish(env_settings, both + [event for event, _ in dynamodb_cannot.values()]))
    worker = WorkerProcess(services, env_settings, tmp_path / "worker.log").start()
    try:
        wait_caught_up(env_settings, worker)
    finally:
        worker.stop()

    letters = asyncio.run(read_topic(env_settings, env_settings.dlq_topic, 10, wait_seconds=5))
    by_item = {json.loads(value)["key"]["opponent_id"]: headers for value, headers in letters}
    assert sorted(by_item) == sorted(e.key["opponent_id"] for e, _ in dynamodb_cannot.values())
    for event, says in dynamodb_cannot.values():
        headers = by_item[event.key["opponent_id"]]
        assert headers["cdc.error.reason"] == "rejected_by_store"
        assert headers["cdc.error.message"].startswith("dynamodb: ")
        assert says in headers["cdc.error.message"], headers

    every = both + [event for event, _ in dynamodb_cannot.values()]
    redis = read_all(env_settings, "redis", every)
    dynamodb = read_all(env_settings, "dynamodb", every)
    assert redis == {e.key["opponent_id"]: expected(e) for e in every}  # Redis holds all
    assert dynamodb == {e.key["opponent_id"]: expected(e) for e in both}
    assert redis["huge"]["n"] == Decimal("1.797e308") and redis["tiny"]["n"] == Decimal("5e-324")
    raw = stored_raw(env_settings, owner, "meta")  # the column never meets the bookkeeping
    assert raw["__meta"] == {"M": {"by": {"S": "user:7"}}}
    assert raw["__v"] == {"S": "a column named _v"}
    assert raw["_v"]["S"] == both[0].version.token()

    capsys.readouterr()
    assert main(["verify", "--json"]) == 0  # agree: what DynamoDB cannot hold is no drift
    (report,) = json.loads(capsys.readouterr().out)
    assert report["agree"] and report["counts"]["dynamodb_cannot_hold"] == len(dynamodb_cannot)
    named = report["samples"]["dynamodb_cannot_hold"]
    assert sorted(sample["key"][2] for sample in named) == sorted(by_item)
    assert all(sample["problem"] for sample in named)
    assert main(["verify", "--repair"]) == 0  # nothing to repair, nothing republished
    assert "republished" not in capsys.readouterr().out.split("agree")[0]


def expected(event: ChangeEvent) -> dict[str, Any]:
    """The item as `get` prints it: numbers by the number rule."""
    return {**event.key, **plain(event.data or {})}


def read_all(settings: Settings, store_name: str, events: list[ChangeEvent]) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        store = open_store(settings, store_name)
        try:
            got = {e.key["opponent_id"]: await store.get("opponents", e.key) for e in events}
        finally:
            await store.close()
        return {name: item for name, item in got.items() if item is not None}

    return asyncio.run(run())


def stored_raw(settings: Settings, owner: str, opponent: str) -> dict[str, Any]:
    client = dynamodb_client(settings.dynamodb)
    try:
        key = {"owner_id": {"S": owner}, "opponent_id": {"S": opponent}}
        name = settings.tables["opponents"].physical_name("opponents")
        return dict(client.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"])
    finally:
        client.close()
