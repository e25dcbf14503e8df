"""The commands people type: publish a file, get and list items from either store."""

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from streams.cli import main
from streams.publisher import Publisher
from streams.settings import Settings
from tests.integration.worker import read_topic, write_direct
from tests.support import delete, upsert

pytestmark = pytest.mark.integration


def test_publish_refuses_a_file_with_a_bad_line_unless_told(
    env_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [upsert("o", "p", 1), delete("o", "q", 2)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([good[0].to_json(), b'{"table": "opponents"}', good[1].to_json()]))
    assert main(["publish", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2: schema" in err and "nothing published" in err
    assert main(["publish", str(path), "--skip-invalid"]) == 0
    published = asyncio.run(read_topic(env_settings, env_settings.topic, 2))
    assert sorted(json.loads(value)["event_id"] for value, _ in published) == sorted(
        e.event_id for e in good
    )


def test_get_and_list_print_the_same_json_from_both_stores(
    env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = uuid.uuid4().hex
    events = [
        upsert(owner, "p", 1, metadata="hé", timestamp=20, score=1.5, tags=["a"], nested={"n": 1}),
        upsert(owner, "q", 2, metadata="x", timestamp=10),
        upsert(owner, "r", 3, metadata="gone", timestamp=30),
        delete(owner, "r", 4),
    ]

    for name in ("redis", "dynamodb"):
        asyncio.run(write_direct(env_settings, name, events))
    printed = {}
    for store in ("redis", "dynamodb"):
        assert (
            main(["get", "--store", store, "opponents", f"owner_id={owner}", "opponent_id=p"]) == 0
        )
        assert main(["list", "--store", store, "opponents", owner]) == 0
        assert (
            main(["get", "--store", store, "opponents", f"owner_id={owner}", "opponent_id=r"]) == 1
        )
        printed[store] = capsys.readouterr().out
    assert printed["redis"] == printed["dynamodb"]
    lines = [json.loads(line) for line in printed["redis"].splitlines()]
    assert lines[0] == {"owner_id": owner, "opponent_id": "p", "metadata": "hé", "timestamp": 20,
                        "score": 1.5, "tags": ["a"], "nested": {"n": 1}}  # fmt: skip
    assert [item["opponent_id"] for item in lines[1:]] == ["p", "q"]


def test_get_names_a_missing_key_attribute(
    env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["get", "--store", "redis", "opponents", "owner_id=x"]) == 2
    assert "missing opponent_id" in capsys.readouterr().err


def test_publisher_fills_versions_that_never_go_back(env_settings: Settings) -> None:
    async def run() -> list[int]:
        async with Publisher(env_settings.kafka_bootstrap_servers, env_settings.topic,
                             env_settings.tables, "svc") as publisher:  # fmt: skip
            key = {"owner_id": "o", "opponent_id": "p"}
            first = await publisher.upsert("opponents", key, {"metadata": "a", "timestamp": 1})
            second = await publisher.delete("opponents", key)
            return [first.ts, second.ts]

    stamps = asyncio.run(run())
    assert stamps[0] < stamps[1]
    published = asyncio.run(read_topic(env_settings, env_settings.topic, 2))
    assert [json.loads(v)["op"] for v, _ in published] == ["upsert", "delete"]


def test_big_integral_floats_print_the_same_from_both_stores_and_verify_agrees(
    env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = uuid.uuid4().hex
    event = upsert(owner, "p", 1, a=1e23, b=float(2**60), c=1.5e18, d=1e125)
    for name in ("redis", "dynamodb"):
        asyncio.run(write_direct(env_settings, name, [event]))
    capsys.readouterr()
    printed = {}
    for store in ("redis", "dynamodb"):
        key = [f"owner_id={owner}", "opponent_id=p"]
        assert main(["get", "--store", store, "opponents", *key]) == 0
        printed[store] = capsys.readouterr().out
    assert printed["redis"] == printed["dynamodb"]
    assert '"a":100000000000000000000000,' in printed["redis"]  # not 99999999999999991611392
    assert main(["verify"]) == 0
