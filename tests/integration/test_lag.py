"""Lag and status of a real consumer group."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from streams.kafka.lag import GroupSample, Status, watch_group
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.settings import Settings
from tests.integration.worker import publish
from tests.support import upsert

pytestmark = pytest.mark.integration


def test_a_member_that_never_commits_is_stalled_and_a_gone_one_stopped(
    env_settings: Settings,
) -> None:
    settings = env_settings
    group = f"lag-{uuid.uuid4().hex[:8]}"
    asyncio.run(publish(settings, [upsert("o", f"p{i}", i + 1) for i in range(30)]))

    async def run() -> tuple[Status, int, float, Status]:
        consumer = AIOKafkaConsumer(
            settings.topic, bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group,
            enable_auto_commit=False, auto_offset_reset="earliest",
        )  # fmt: skip
        await consumer.start()
        try:
            await consumer.getmany(timeout_ms=3000)  # joined and assigned, commits nothing
            await asyncio.sleep(1.0)  # our own lag reading is a message-timestamp age
            samples, stalled = await watch_group(
                settings.kafka_bootstrap_servers, group, settings.topic, 2, 0.5
            )
        finally:
            await consumer.stop()
        _, stopped = await watch_group(
            settings.kafka_bootstrap_servers, group, settings.topic, 1, 0
        )
        last = samples[-1]
        oldest = max(p.lag_seconds(last.taken_ms) for p in last.partitions)
        return stalled, last.lag, oldest, stopped

    stalled, lag, oldest_seconds, stopped = asyncio.run(run())
    assert stalled is Status.STALLED and lag == 30
    assert oldest_seconds >= 1.0
    assert stopped is Status.STOPPED


def test_a_topic_nobody_consumes_is_stopped_even_if_its_group_has_members(
    env_settings: Settings,
) -> None:
    """The group's one member consumes the changes topic; another topic, empty and read by
    nobody, must not look consumed ("OK, 1 members")."""
    settings = env_settings
    group, other = f"lag-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, [TopicSpec(other, 1, 1, {})]))

    async def run() -> tuple[GroupSample, Status, GroupSample]:
        consumer = AIOKafkaConsumer(
            settings.topic, bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group,
        )  # fmt: skip
        await consumer.start()
        try:
            await consumer.getmany(timeout_ms=3000)  # joined and assigned
            [consumed], _ = await watch_group(
                settings.kafka_bootstrap_servers, group, settings.topic, 1, 0
            )
            [unread], status = await watch_group(
                settings.kafka_bootstrap_servers, group, other, 1, 0
            )
        finally:
            await consumer.stop()
        return consumed, status, unread

    consumed, status, unread = asyncio.run(run())
    assert consumed.members == 1
    assert unread.members == 0 and status is Status.STOPPED
