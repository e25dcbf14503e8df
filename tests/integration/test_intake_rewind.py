"""A Debezium topic's partitions are taken up one record before their committed offset: the
decoder reads a record by the one before it (a tombstone after its own delete), and a restart
between the two must not lose that."""

import asyncio
import uuid

import pytest
from aiokafka import TopicPartition

from streams.kafka.clients import Kafka
from streams.kafka.records import Record
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.pipeline.intake import BatchIntake
from streams.settings import Settings
from tests.conftest import Services
from tests.integration.test_groups import commit_as
from tests.support.debezium import users_of
from tests.support.worker import create_topics

pytestmark = pytest.mark.integration


async def _first_offsets(settings: Settings, group: str) -> dict[str, int]:
    """The offset of the first record an intake in `group` reads from each topic."""
    first: dict[str, int] = {}
    seen = asyncio.Event()

    async def apply(records: list[Record]) -> None:
        for record in records:
            first.setdefault(record.topic, record.offset)
        if len(first) == 2:
            seen.set()

    intake = BatchIntake(settings.intake, group, apply, lambda report: None)
    running = asyncio.ensure_future(intake.run())
    try:
        await asyncio.wait_for(seen.wait(), 60)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    return first


def test_a_debezium_partition_is_read_again_from_the_record_before_its_offset(
    services: Services,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    users = users_of(f"pg{suffix}.public.users", f"users-{suffix}")
    settings = services.settings(tables={"users": users})
    debezium = users.feed_topic(settings.topic)
    kafka = Kafka.of(settings.kafka)

    async def scenario() -> dict[str, int]:
        await create_topics(settings)
        await ensure_topics(kafka, [TopicSpec(debezium, 1, 1, {})])
        producer = kafka.producer()
        await producer.start()
        try:
            for i in range(3):
                await producer.send_and_wait(debezium, b"{}", key=str(i).encode(), partition=0)
                await producer.send_and_wait(settings.topic, b"{}", key=b"k", partition=0)
        finally:
            await producer.stop()
        group = f"{settings.group_id}-redis"
        offsets = {TopicPartition(debezium, 0): 2, TopicPartition(settings.topic, 0): 2}
        await commit_as(settings, group, offsets)
        return await _first_offsets(settings, group)

    first = asyncio.run(scenario())

    assert first == {debezium: 1, settings.topic: 2}  # only the Debezium topic is rewound
