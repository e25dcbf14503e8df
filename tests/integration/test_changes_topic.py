"""The changes topic against the real broker: never created by a send or a read-only command,
checked at start, and a rebuild refuses a topic that has lost history."""

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import RecordsToDelete

from streams.cli.main import main
from streams.kafka import topics
from streams.kafka.clients import Kafka
from streams.kafka.publisher import Publisher
from streams.kafka.topic_health import TopicState, topic_config, warnings
from streams.kafka.topics import (
    MissingTopicError,
    TopicSpec,
    TopicUnavailableError,
    ensure_topics,
    kafka_admin,
)
from streams.pipeline import rebuild as rebuild_module
from streams.pipeline.end_offsets import EndOffsets
from streams.pipeline.rebuild import rebuild
from streams.settings import Settings
from tests.conftest import Services
from tests.support import MemoryStore, upsert
from tests.support.worker import WorkerProcess, publish, wait_caught_up

pytestmark = pytest.mark.integration


def use_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)


async def existing_topics(settings: Settings) -> set[str]:
    async with kafka_admin(settings.kafka_bootstrap_servers) as admin:
        return set(await admin.list_topics())


def test_nothing_creates_a_missing_topic_but_init(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    use_env(settings, monkeypatch)
    events = tmp_path / "events.jsonl"
    events.write_bytes(upsert("o", "p", 1).to_json() + b"\n")
    items = tmp_path / "items.jsonl"
    items.write_text('{"table": "opponents", "key": {"owner_id": "o", "opponent_id": "p"}}\n')
    commands = [
        ["publish", str(events)],
        ["snapshot", "--source", "jsonl", "--file", str(items)],
        ["rebuild", "--store", "redis"],
        ["lag", "--samples", "1"],
        ["dlq", "list"],
        ["dlq", "replay"],
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        [line] = capsys.readouterr().err.splitlines()
        assert line.startswith("error: topic changes-") and "cdc-replicator init" in line, line

    async def library_publish() -> None:
        async with Publisher(
            settings.kafka_bootstrap_servers, settings.topic, settings.tables, "t"
        ) as pub:
            await pub.upsert("opponents", {"owner_id": "o", "opponent_id": "p"}, {"v": 1})

    with pytest.raises(MissingTopicError):
        asyncio.run(library_publish())
    assert not {settings.topic, settings.dlq_topic} & asyncio.run(existing_topics(settings))

    assert main(["init"]) == 0
    assert main(["publish", str(events)]) == 0


async def delete_records_before(settings: Settings, offset: int) -> None:
    async with kafka_admin(settings.kafka_bootstrap_servers) as admin:
        await admin.delete_records({TopicPartition(settings.topic, 0): RecordsToDelete(offset)})


def test_a_topic_made_with_broker_defaults_is_warned_about_and_rebuild_refuses_lost_history(
    services: Services, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # What an auto-created topic looks like: 1 partition, deleting history after retention.
    auto_created = TopicSpec(settings.topic, 1, 1, {"cleanup.policy": "delete"})
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, [auto_created]))
    events = [upsert("o", f"p{i}", i + 1) for i in range(30)]
    asyncio.run(publish(settings, events))

    worker = WorkerProcess(services, settings, tmp_path / "worker.log", stores="redis").start()
    try:
        wait_caught_up(settings, worker, stores=("redis",))  # it still replicates
        log = worker.log_tail(200)
    finally:
        worker.stop()
    assert "cleanup.policy=delete, not compact" in log
    assert "1 partition, fewer than CDC_TOPIC_PARTITIONS=3" in log
    assert "delete.retention.ms=86400000, shorter than CDC_TOMBSTONE_GRACE_SECONDS" in log

    # Retention (here delete-records) removes the oldest 10 records: a rebuild would be partial.
    asyncio.run(delete_records_before(settings, 10))
    client = redis.Redis.from_url(settings.redis_url)
    client.delete(*client.scan_iter(f"{settings.redis_key_prefix}:*"))
    use_env(settings, monkeypatch)
    assert main(["rebuild", "--store", "redis"]) == 2
    err = capsys.readouterr().err
    assert "warning: topic" in err and "cleanup.policy=delete" in err
    assert f"topic {settings.topic} has lost history" in err
    assert "partition 0 starts at offset 10" in err and "--allow-partial" in err
    assert "snapshot --source dynamodb" in err
    assert not list(client.scan_iter(f"{settings.redis_key_prefix}:*"))  # nothing replayed
    assert main(["rebuild", "--store", "dynamodb"]) == 2
    assert "refill DynamoDB from Redis with `cdc-replicator verify --repair`" in (
        capsys.readouterr().err
    )  # the other store, as Redis is pointed to DynamoDB

    assert main(["dlq", "replay"]) == 0  # it sends letters back to that topic: warned too
    err = capsys.readouterr().err
    assert "cleanup.policy=delete, not compact" in err and "init --fix" in err
    assert "1 partition, fewer than CDC_TOPIC_PARTITIONS=3" in err

    assert main(["rebuild", "--store", "redis", "--allow-partial"]) == 0
    assert "replayed 20 records into redis" in capsys.readouterr().out
    client.close()


class ErrorThenRealAdmin:
    """An admin client whose topic metadata carries `code` for the first `errors` answers."""

    def __init__(self, settings: Settings, code: int, errors: int) -> None:
        self.settings, self.code, self.errors = settings, code, errors

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def describe_topics(self, topics: list[str] | None = None) -> list[dict[str, Any]]:
        self.errors -= 1
        if self.errors >= 0:
            return [{"topic": self.settings.topic, "error_code": self.code, "partitions": []}]
        partitions = [{"partition": n} for n in range(self.settings.topic_partitions)]
        return [{"topic": self.settings.topic, "error_code": 0, "partitions": partitions}]


def test_a_describe_error_makes_rebuild_retry_or_fail_never_succeed_empty(
    env_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = env_settings
    events = [upsert("o", f"p{i}", i + 1) for i in range(12)]
    asyncio.run(publish(settings, events))
    monkeypatch.setattr(topics, "METADATA_PATIENCE_SECONDS", 0.5)

    monkeypatch.setattr(Kafka, "admin", lambda _: ErrorThenRealAdmin(settings, 5, errors=2))
    store = MemoryStore()
    assert asyncio.run(rebuild(settings.intake, store)).records == len(events)  # retried, then all
    assert len(store.items) == len(events)

    monkeypatch.setattr(Kafka, "admin", lambda _: ErrorThenRealAdmin(settings, 5, errors=99))
    with pytest.raises(TopicUnavailableError, match="LeaderNotAvailableError"):
        asyncio.run(rebuild(settings.intake, MemoryStore()))
    assert main(["rebuild", "--store", "redis"]) == 2  # the command: one line, no success
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: describing topic {settings.topic} failed: LeaderNot"), line


class ReachedAtOnce(EndOffsets):
    """A replay loop that believes it is at the end before reading anything: what a topic
    described as having no partitions once made a rebuild do."""

    async def reached(self, consumer: AIOKafkaConsumer) -> bool:
        return True


def test_a_rebuild_that_read_nothing_the_end_offsets_promised_exits_2(
    env_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(publish(env_settings, [upsert("o", f"p{i}", i + 1) for i in range(12)]))
    monkeypatch.setattr(rebuild_module, "EndOffsets", ReachedAtOnce)
    assert main(["rebuild", "--store", "redis"]) == 2
    captured = capsys.readouterr()
    [line] = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert "promised 12 offsets to replay but no record was read" in line, line
    assert "replayed" not in captured.out


async def topic_state(settings: Settings) -> tuple[int, dict[str, str]]:
    async with kafka_admin(settings.kafka_bootstrap_servers) as admin:
        partitions = await topics.partitions_of(admin, settings.topic)
        config, _ = await topic_config(admin, settings.topic)
    return len(partitions), config


def test_init_fix_brings_a_topic_to_the_settings_and_keeps_its_other_overrides(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    made_wrong = {"cleanup.policy": "delete", "retention.ms": "123456789"}
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, [
        TopicSpec(settings.topic, 1, 1, made_wrong)
    ]))  # fmt: skip
    use_env(settings, monkeypatch)
    assert main(["init", "--fix"]) == 0
    out = capsys.readouterr().out
    assert "set cleanup.policy=compact" in out and "set partitions 1 -> 3" in out
    grace_ms = settings.tombstone_grace_seconds * 1000
    assert f"set delete.retention.ms={grace_ms}" in out

    deadline = time.monotonic() + 20  # a setting reaches the broker's view through its log
    while True:
        partitions, config = asyncio.run(topic_state(settings))
        state = TopicState(settings.topic, list(range(partitions)), config)
        if not warnings(state, settings.changes, "b") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert warnings(state, settings.changes, "b") == []
    assert config["retention.ms"] == "123456789"  # the topic's other override is kept
    assert main(["init", "--fix"]) == 0
    assert "set " not in capsys.readouterr().out  # nothing left to fix


def test_init_warns_about_a_wrong_topic_in_warning_lines(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, [
        TopicSpec(settings.topic, 1, 1, {"cleanup.policy": "delete"})
    ]))  # fmt: skip
    use_env(settings, monkeypatch)
    assert main(["init"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(line.startswith("warning: topic ") for line in lines), lines
    assert any("has 1 partition, fewer than" in line for line in lines)
