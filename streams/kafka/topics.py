"""Create the changes topic (compacted, so it stays a full replayable copy) and its DLQ, and
describe topics without ever creating one by accident."""

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from streams.kafka.clients import KafkaLike, as_kafka
from streams.model.errors import ReplicatorError
from streams.retry import Backoff
from streams.settings_parts import DLQ_SUFFIX, TopicSettings

UNKNOWN_TOPIC_OR_PARTITION = 3
TOPIC_ALREADY_EXISTS = 36
METADATA_PATIENCE_SECONDS = 15.0  # a leader being elected, a topic just created


class MissingTopicError(ReplicatorError):
    """The topic does not exist; only `init` (or the worker) creates it, with its settings."""

    def __init__(self, topic: str) -> None:
        made = (
            "the dead-letter topic, 1 partition"
            if topic.endswith(DLQ_SUFFIX)
            else "compacted, CDC_TOPIC_PARTITIONS partitions"
        )
        super().__init__(
            f"topic {topic} does not exist: create it with `cdc-replicator init` ({made})"
        )
        self.topic = topic


class TopicUnavailableError(ReplicatorError):
    """Kafka could not describe the topic for a while (a leader being elected, say): a worker
    that is starting waits on, a command reports it."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    config: Mapping[str, str]


def changes_topics(changes: TopicSettings) -> list[TopicSpec]:
    grace_ms = str(changes.tombstone_grace_seconds * 1000)
    return [
        TopicSpec(
            changes.name,
            changes.partitions,
            changes.replication_factor,
            {"cleanup.policy": "compact", "delete.retention.ms": grace_ms},
        ),
        TopicSpec(changes.dlq, 1, changes.replication_factor, {}),
    ]


async def ensure_topics(kafka: KafkaLike, topics: list[TopicSpec]) -> list[str]:
    """Create whichever topics are missing; return the names created."""
    async with kafka_admin(kafka) as admin:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [
                NewTopic(t.name, t.partitions, t.replication, topic_configs=dict(t.config))
                for t in missing
            ]
        )
        for name, code, *_ in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise ReplicatorError(f"creating topic {name} failed: {for_code(code).__name__}")
        created = [t.name for t in missing]
        await _until_described(admin, created)
    return created


async def _until_described(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """A created topic reaches the broker's metadata a moment after the controller made it:
    wait for it, so the caller's next step (a publisher's existence check, a consumer's
    assignment) never finds the topic it just created missing."""
    deadline = time.monotonic() + METADATA_PATIENCE_SECONDS
    while time.monotonic() < deadline:
        described = await admin.describe_topics()
        ready = {d["topic"] for d in described if d["error_code"] == 0 and d["partitions"]}
        if ready.issuperset(names):
            return
        await asyncio.sleep(0.1)


@asynccontextmanager
async def kafka_admin(kafka: KafkaLike) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = as_kafka(kafka).admin()
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def topic_partitions(kafka: KafkaLike, topic: str) -> list[int]:
    """The topic's partition numbers, from a metadata request."""
    async with kafka_admin(kafka) as admin:
        return await partitions_of(admin, topic)


async def require_topic(kafka: KafkaLike, topic: str) -> None:
    """Raise MissingTopicError unless `topic` exists (before a producer's first send would
    auto-create it with the broker's defaults, where auto-creation is on)."""
    await topic_partitions(kafka, topic)


async def partitions_of(
    admin: AIOKafkaAdminClient, topic: str, patience: float | None = None
) -> list[int]:
    """The topic's partition numbers. A missing topic raises MissingTopicError; a metadata
    error is retried while retriable and for `patience` seconds at most (default
    METADATA_PATIENCE_SECONDS), then raised: never an empty list, which would read as
    "nothing to replay"."""
    patience = METADATA_PATIENCE_SECONDS if patience is None else patience
    deadline = time.monotonic() + patience
    delays = Backoff(initial=0.2, maximum=2.0).delays()
    while True:
        described = await _describe(admin, topic)
        code = described["error_code"]
        if code == 0 and described["partitions"]:
            return sorted(p["partition"] for p in described["partitions"])
        error = for_code(code).__name__ if code else "no partitions"
        if code and not for_code(code).retriable:
            raise ReplicatorError(f"describing topic {topic} failed: {error}")
        if time.monotonic() > deadline:
            raise TopicUnavailableError(
                f"describing topic {topic} failed: {error}, for {patience:.0f}s"
            )
        await asyncio.sleep(next(delays))


async def _describe(admin: AIOKafkaAdminClient, topic: str) -> dict[str, Any]:
    """The topic's metadata. All topics are asked for: a metadata request naming a missing
    topic makes a broker with auto.create.topics.enable create it, with its defaults."""
    for described in await admin.describe_topics():
        if described["topic"] == topic and described["error_code"] != UNKNOWN_TOPIC_OR_PARTITION:
            return dict(described)
    raise MissingTopicError(topic)


async def assign_all(
    consumer: AIOKafkaConsumer, kafka: KafkaLike, topic: str
) -> dict[TopicPartition, int]:
    """Assign every partition of `topic` to `consumer`; return their end offsets right now."""
    partitions = [TopicPartition(topic, n) for n in await topic_partitions(kafka, topic)]
    consumer.assign(partitions)
    return dict(await consumer.end_offsets(partitions))
