"""Create the changes topic (compacted, so it stays a full replayable copy) and its DLQ."""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from streams.errors import ConfigError, ReplicatorError
from streams.kafka import KafkaLike, as_kafka
from streams.settings import Settings

TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    config: Mapping[str, str]


def changes_topics(settings: Settings) -> list[TopicSpec]:
    grace_ms = str(settings.tombstone_grace_seconds * 1000)
    return [
        TopicSpec(
            settings.topic,
            settings.topic_partitions,
            settings.topic_replication_factor,
            {"cleanup.policy": "compact", "delete.retention.ms": grace_ms},
        ),
        TopicSpec(settings.dlq_topic, 1, settings.topic_replication_factor, {}),
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
    return [t.name for t in missing]


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


async def partitions_of(admin: AIOKafkaAdminClient, topic: str) -> list[int]:
    [described] = await admin.describe_topics([topic])
    return sorted(p["partition"] for p in described["partitions"])


async def assign_all(
    consumer: AIOKafkaConsumer, kafka: KafkaLike, topic: str
) -> dict[TopicPartition, int]:
    """Assign every partition of `topic` to `consumer`; return their end offsets right now."""
    partitions = [TopicPartition(topic, n) for n in await topic_partitions(kafka, topic)]
    if not partitions:  # aiokafka would assert on the empty assignment
        raise ConfigError(f"topic {topic!r} does not exist on {as_kafka(kafka).bootstrap}")
    consumer.assign(partitions)
    return dict(await consumer.end_offsets(partitions))
