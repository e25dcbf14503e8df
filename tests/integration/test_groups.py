"""Per-store consumer groups: an upgrade from the shared group does not replay the topic."""

import asyncio

import pytest
from aiokafka import TopicPartition

from streams.kafka.clients import Kafka
from streams.kafka.groups import committed_offsets, seed_from_shared_group, store_group
from streams.settings import Settings
from tests.integration.worker import publish
from tests.support import upsert

pytestmark = pytest.mark.integration


async def commit_as(settings: Settings, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = Kafka.of(settings.kafka).consumer(group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


def test_a_store_group_without_offsets_starts_where_the_shared_group_stopped(
    env_settings: Settings,
) -> None:
    settings, kafka = env_settings, Kafka.of(env_settings.kafka)
    redis, dynamodb = store_group(settings, "redis"), store_group(settings, "dynamodb")
    asyncio.run(publish(settings, [upsert("o", f"p{i}", i + 1) for i in range(12)]))
    shared = {TopicPartition(settings.topic, 0): 2, TopicPartition(settings.topic, 1): 1}
    asyncio.run(commit_as(settings, settings.group_id, shared))
    asyncio.run(commit_as(settings, dynamodb, {TopicPartition(settings.topic, 0): 1}))

    assert asyncio.run(seed_from_shared_group(kafka, settings, redis)) == 2
    assert asyncio.run(seed_from_shared_group(kafka, settings, dynamodb)) == 0  # has its own
    assert asyncio.run(committed_offsets(kafka, redis, settings.topic)) == shared
    assert asyncio.run(committed_offsets(kafka, dynamodb, settings.topic)) == {
        TopicPartition(settings.topic, 0): 1
    }
