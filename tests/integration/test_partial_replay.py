"""A Debezium row with an unavailable value, dead-lettered, then `dlq replay`ed and `rebuild`
from the beginning (twice), ends in both stores as the row applied live does: its unchanged
value kept, never the placeholder."""

import asyncio
import uuid
from typing import Any

import pytest

from streams.kafka.clients import Kafka
from streams.kafka.records import RawRecord
from streams.kafka.topics import TopicSpec, changes_topics, ensure_topics
from streams.model.tables import TableSpec
from streams.pipeline.dlq import HEADER_OFFSET, HEADER_PARTITION, HEADER_REASON, HEADER_TOPIC
from streams.pipeline.dlq_replay import replay_letters
from streams.pipeline.rebuild import rebuild
from streams.settings import Settings
from streams.stores import ensure_tables, open_store
from tests.conftest import Services
from tests.support import EveryStore, MemoryDeadLetters
from tests.support.debezium import envelope, record_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BODY = "a long text {x} 50% " * 1000
FIELDS = {"id": {"type": "int32"}, "n": {"type": "int32"}, "body": {"type": "string"}}
READ = envelope("r", 100, after={"id": 7, "n": 1, "body": BODY}, fields=FIELDS)
CHANGE = envelope("u", 200, after={"id": 7, "n": 2, "body": "__debezium_unavailable_value"},
                  fields=FIELDS, last_commit=150)  # fmt: skip


def world(services: Services) -> Settings:
    """Settings of their own: changes topic, Debezium topic, Redis prefix, DynamoDB table."""
    base = services.settings()
    suffix = uuid.uuid4().hex[:8]
    docs = TableSpec(partition_key="id", format="debezium", source="pg.public.users",
                     topic=f"pg.public.users-{suffix}", columns={"id": "id"},
                     dynamodb_table=f"docs-{suffix}")  # fmt: skip
    settings = base.model_copy(update={"tables": {"docs": docs}})
    topics = [*changes_topics(settings.changes), TopicSpec(docs.feed_topic(""), 1, 1, {})]
    asyncio.run(ensure_topics(Kafka.of(settings.kafka), topics))
    ensure_tables(settings.dynamodb, settings.tables)
    return settings


async def apply(settings: Settings, values: list[bytes]) -> None:
    """The records, as the worker applies them, into both stores."""
    stores = [open_store(settings, name) for name in ("redis", "dynamodb")]
    topic = settings.tables["docs"].feed_topic("")
    records = [RawRecord(topic, 0, offset, record_key(7), value)
               for offset, value in enumerate(values)]  # fmt: skip
    try:
        await EveryStore(settings.tables, stores, MemoryDeadLetters()).process(records)
    finally:
        for store in stores:
            await store.close()


async def held(settings: Settings) -> list[Any]:
    found = []
    for name in ("redis", "dynamodb"):
        store = open_store(settings, name)
        try:
            found.append(await store.get("docs", {"id": "7"}))
        finally:
            await store.close()
    return found


async def letter(settings: Settings, value: bytes) -> None:
    """`value` in the dead-letter topic as the worker puts it there (rejected by a store)."""
    producer = Kafka.of(settings.kafka).producer()
    await producer.start()
    try:
        headers = [(HEADER_REASON, b"rejected_by_store"), (HEADER_PARTITION, b"0"),
                   (HEADER_TOPIC, settings.tables["docs"].feed_topic("").encode()),
                   (HEADER_OFFSET, b"1")]  # fmt: skip
        await producer.send_and_wait(settings.dlq_topic, value, key=record_key(7), headers=headers)
    finally:
        await producer.stop()


async def rebuilt(settings: Settings) -> None:
    for name in ("redis", "dynamodb"):
        store = open_store(settings, name)
        try:
            await rebuild(settings.intake, store)
        finally:
            await store.close()


def test_a_lettered_partial_row_replayed_then_rebuilt_ends_as_the_live_one(
    services: Services,
) -> None:
    expected = {"id": "7", "n": 2, "body": BODY}
    live = world(services)
    asyncio.run(apply(live, [READ, CHANGE]))
    assert asyncio.run(held(live)) == [expected, expected]

    lettered = world(services)
    asyncio.run(apply(lettered, [READ]))
    asyncio.run(letter(lettered, CHANGE))
    summary = asyncio.run(replay_letters(lettered.intake))
    assert (summary.read, summary.republished) == (1, 1)
    for _ in range(2):  # a rebuild from the beginning, then again over what it wrote
        asyncio.run(rebuilt(lettered))
        assert asyncio.run(held(lettered)) == [expected, expected]
