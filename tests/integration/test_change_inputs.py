"""Input that is not a cdc-v1 event, through the real worker: Kafka tombstones (null values)
and a Debezium topic."""

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from streams.devstack.process import free_port, wait_until
from streams.kafka.clients import Kafka
from streams.kafka.publisher import Publisher
from streams.kafka.records import RawRecord
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.model.events import ChangeEvent
from streams.pipeline.debezium import DebeziumDecoder
from streams.pipeline.intake import NEW_TOPIC_SECONDS
from streams.settings import Settings
from tests.conftest import Services
from tests.support import upsert
from tests.support.debezium import USERS, envelope, events_of, record_key
from tests.support.worker import (
    WorkerProcess,
    create_topics,
    fetch,
    read_topic,
    stores_match,
    wait_for_fold,
)

pytestmark = pytest.mark.integration


def metrics_text(port: int) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        return fetch(url).decode()
    except OSError:
        return ""  # not listening yet


def test_a_tombstone_between_valid_events_is_skipped_and_counted(
    services: Services, tmp_path: Path
) -> None:
    port = free_port()
    settings = services.settings(web_enabled=True, web_port=port)
    owner = uuid.uuid4().hex
    valid = [upsert(owner, "p1", 1), upsert(owner, "p2", 2)]

    async def send() -> None:
        await create_topics(settings)
        async with Publisher(settings.kafka_bootstrap_servers, settings.topic,
                             settings.tables, "tests") as pub:  # fmt: skip
            await pub.publish(valid[:1])
            await pub.send_raw(None, key=valid[0].item_id(settings.tables["opponents"]).kafka_key())
            await pub.publish(valid[1:])

    worker = WorkerProcess(services, settings, tmp_path / "worker.log")
    worker.start()
    try:
        asyncio.run(send())
        wait_for_fold(settings, valid, worker)
        counted = "cdc_tombstones_skipped_total 1.0"
        assert wait_until(lambda: counted in metrics_text(port), 30), worker.log_tail()
        assert asyncio.run(read_topic(settings, settings.dlq_topic, 1, wait_seconds=3)) == []
        assert worker.alive()
    finally:
        worker.stop()


def test_a_debezium_topic_feeds_its_table_and_bad_records_are_dead_lettered(
    services: Services, tmp_path: Path
) -> None:
    prefix = f"pg{uuid.uuid4().hex[:8]}"
    users = USERS.model_copy(
        update={"source": f"{prefix}.public.users", "dynamodb_table": f"users-{prefix}"}
    )
    settings = services.settings()
    settings = services.settings(tables={**settings.tables, "users": users})
    topic = users.feed_topic(settings.topic)
    rows = [
        (record_key(1), envelope("r", 100, after={"id": 1, "name": "snap"}, prefix=prefix)),
        (b"bad", envelope("t", 150, prefix=prefix)),
        (record_key(1), envelope("u", 160, after={"id": 1, "name": "ada"}, prefix=prefix)),
        (b"bad", envelope("c", 170, prefix=prefix)),  # no after
        (record_key(2), envelope("c", 180, after={"id": 2, "name": "bob"}, prefix=prefix)),
        (b"bad", envelope("c", 185, after={"id": 9}, table="orders", prefix=prefix)),
        (record_key(2), envelope("d", 190, before={"id": 2}, prefix=prefix)),
        (record_key(2), None),
        (record_key(3), envelope("c", 200, after={"id": 3, "name": "cy"}, prefix=prefix)),
    ]
    decoder = DebeziumDecoder(settings.tables)
    expected = events_of(
        decoder,
        [RawRecord(topic, 0, 0, key, value) for key, value in rows if key != b"bad" and value],
    )

    async def send() -> None:
        producer = Kafka.of(settings.kafka).producer()
        await producer.start()
        try:
            for key, value in rows:
                await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()

    worker = WorkerProcess(services, settings, tmp_path / "worker.log")
    worker.start()
    try:
        # Connect creates the topic when the connector starts, often after the worker.
        assert wait_until(lambda: "assigned" in worker.log.read_text(), 60), worker.log_tail()
        waiting = f"topic {topic} does not exist yet"
        assert wait_until(lambda: waiting in worker.log.read_text(), 30), worker.log_tail()
        time.sleep(NEW_TOPIC_SECONDS + 1)  # a metadata refresh later: aiokafka logged it again
        asyncio.run(ensure_topics(Kafka.of(settings.kafka), [TopicSpec(topic, 2, 1, {})]))
        asyncio.run(send())
        assert wait_until(lambda: _stores_hold(settings, expected), 90), worker.log_tail()
        letters = asyncio.run(read_topic(settings, settings.dlq_topic, 3))
        assert sorted(h["cdc.error.reason"] for _, h in letters) == [
            "schema", "truncate", "unknown_table"
        ]  # fmt: skip
        assert {h["cdc.original.topic"] for _, h in letters} == {topic}
        assert worker.alive()
        log = worker.log.read_text()  # one line each, for both stores' consumers together
        assert log.count(waiting) == 1 and "not found in cluster metadata" not in log, log
        assert log.count(f"topic {topic} now exists") == 1, log
    finally:
        worker.stop()


def _stores_hold(settings: Settings, events: list[ChangeEvent]) -> bool:
    try:
        return asyncio.run(stores_match(settings, events, ("redis", "dynamodb")))
    except AssertionError:
        return False
