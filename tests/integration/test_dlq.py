"""Dead letters: listed with reason and origin; replayed once they pass (a newly declared table)."""

import asyncio
import json
from pathlib import Path

import pytest

from streams.cli.main import main
from streams.kafka.publisher import Publisher
from streams.model.tables import TableSpec
from streams.settings import Settings
from tests.conftest import Services
from tests.support import upsert
from tests.support.worker import WorkerProcess, publish, wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_list_then_replay_after_declaring_the_table(
    services: Services, env_settings: Settings, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    settings = env_settings
    good = upsert("o", "p", 1)
    later = {
        **json.loads(good.to_json()),
        "table": "profiles",
        "key": {"user_id": "u1"},
        "data": {"name": "Ann"},
    }

    async def send() -> None:
        await publish(settings, [good])
        async with Publisher(
            settings.kafka_bootstrap_servers, settings.topic, settings.tables, "t"
        ) as pub:
            await pub.send_raw(b"garbage", key=b"k")
            await pub.send_raw(json.dumps(later).encode(), key=b"k2")

    asyncio.run(send())
    worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
    try:
        wait_caught_up(settings, worker)
    finally:
        worker.stop()

    assert main(["dlq", "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(letter["reason"] for letter in listed) == ["not_json", "unknown_table"]
    assert all(letter["origin"]["topic"] == settings.topic for letter in listed)

    # Replayed before the table is declared: nothing passes, and nothing is lost either.
    assert main(["dlq", "replay"]) == 0
    assert "read 2 dead letters: 0 now pass and were republished, 0 discarded, 2 still invalid" in (
        capsys.readouterr().out
    )
    assert main(["dlq", "list", "--json"]) == 0
    waiting = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(letter["reason"] for letter in waiting) == ["not_json", "unknown_table"]
    assert {letter["origin"]["offset"] for letter in waiting} == {
        letter["origin"]["offset"] for letter in listed
    }

    # The workflow of docs/replay-and-dead-letters.md: declare the missing table, then replay.
    # The letter that now passes goes back to the topic; the garbage is discarded explicitly.
    tables = dict(settings.tables) | {
        "profiles": TableSpec(partition_key="user_id", dynamodb_table=f"profiles-{settings.topic}")
    }
    monkeypatch.setenv("CDC_TABLES", json.dumps({k: v.model_dump() for k, v in tables.items()}))
    assert main(["dlq", "replay", "--discard", "not_json"]) == 0
    assert "read 2 dead letters: 1 now pass and were republished, 1 discarded, 0 still" in (
        capsys.readouterr().out
    )
    assert main(["dlq", "replay"]) == 0  # the replay group remembers: nothing twice
    assert "read 0 dead letters" in capsys.readouterr().out
    assert main(["dlq", "list"]) == 0
    assert capsys.readouterr().out == ""

    # A worker that knows the table applies the replayed event to both stores.
    fixed = WorkerProcess(
        services, settings.model_copy(update={"tables": tables}), tmp_path / "fixed.log"
    )
    fixed.start()
    try:
        wait_caught_up(settings, fixed)
    finally:
        fixed.stop()
    for store in ("redis", "dynamodb"):
        assert main(["get", "--store", store, "profiles", "user_id=u1"]) == 0
        assert json.loads(capsys.readouterr().out) == {"user_id": "u1", "name": "Ann"}
