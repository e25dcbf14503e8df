"""Lag and status of a real consumer group."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from streams.cli.main import main
from streams.kafka.lag import GroupSample, Status, watch_group
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.settings import Settings
from tests.support import upsert
from tests.support.worker import publish

pytestmark = pytest.mark.integration


def test_a_member_that_never_commits_is_stalled_and_a_gone_one_stopped(
    env_settings: Settings,
) -> None:
    settings = env_settings
    group = f"lag-{uuid.uuid4().hex[:8]}"
    asyncio.run(publish(settings, [upsert("o", f"p{i}", i + 1) for i in range(30)]))

    async def run() -> tuple[Status, int, float, Status]:
        consumer = hand_committed(settings, group)
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


def test_lag_of_a_group_the_broker_does_not_know_says_so(
    env_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = env_settings
    asyncio.run(publish(settings, [upsert("o", "p", 1)]))
    known = f"lag-{uuid.uuid4().hex[:8]}"

    async def commit_once() -> None:
        consumer = hand_committed(settings, known)
        await consumer.start()
        try:
            await consumer.getmany(timeout_ms=3000)
            await consumer.commit()
        finally:
            await consumer.stop()

    asyncio.run(commit_once())
    missing = f"nosuch-{uuid.uuid4().hex[:8]}"
    assert main(["lag", "--group", missing, "--samples", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: no consumer group '{missing}' on this Kafka cluster; its groups:"
    )
    assert err.count("\n") == 1, err
    assert main(["lag", "--group", known, "--samples", "1"]) == 1  # known: reported, STOPPED
    assert (
        f"group {known} on {settings.topic}: STOPPED, 0 members, lag 0" in capsys.readouterr().out
    )


def hand_committed(settings: Settings, group: str) -> AIOKafkaConsumer:
    """A member of `group` reading the topic from its start, which commits only when told."""
    return AIOKafkaConsumer(
        settings.topic, bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group,
        enable_auto_commit=False, auto_offset_reset="earliest",
    )  # fmt: skip
