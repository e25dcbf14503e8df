"""Per-store consumer groups: an upgrade from the shared group does not replay the topic; a
worker per store on one machine, as docs/operating.md shows."""

import asyncio
import json
from functools import partial
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from streams.devstack.process import free_port
from streams.kafka.clients import Kafka
from streams.kafka.groups import committed_offsets, copy_shared_group_offsets, store_group
from streams.kafka.publisher import Publisher
from streams.model.events import ChangeEvent
from streams.settings import Settings
from streams.worker.run import prepare
from tests.conftest import Services
from tests.support import upsert
from tests.support.worker import (
    WorkerProcess,
    fetch,
    publish,
    read_topic,
    wait_for_fold,
)

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
    worker = settings.worker
    redis, dynamodb = store_group(worker, "redis"), store_group(worker, "dynamodb")
    asyncio.run(publish(settings, [upsert("o", f"p{i}", i + 1) for i in range(12)]))
    shared = {TopicPartition(settings.topic, 0): 2, TopicPartition(settings.topic, 1): 1}
    asyncio.run(commit_as(settings, settings.group_id, shared))
    asyncio.run(commit_as(settings, dynamodb, {TopicPartition(settings.topic, 0): 1}))

    copy = partial(copy_shared_group_offsets, kafka, worker, settings.changes)
    assert asyncio.run(copy(redis)) == 2
    assert asyncio.run(copy(dynamodb)) == 0  # has its own
    assert asyncio.run(committed_offsets(kafka, redis, settings.topic)) == shared
    assert asyncio.run(committed_offsets(kafka, dynamodb, settings.topic)) == {
        TopicPartition(settings.topic, 0): 1
    }


def test_two_workers_on_one_machine_one_per_store_each_on_its_web_port(
    services: Services, tmp_path: Path
) -> None:
    """The `--stores redis` and `--stores dynamodb` workers of docs/operating.md (Scaling out):
    each feeds its store's group only and serves its own /lag; each dead-letters a malformed
    record (so it is there twice)."""
    settings = services.settings(web_enabled=True)
    asyncio.run(prepare(settings, ["redis", "dynamodb"]))
    events = [upsert("o", f"p{i}", i + 1) for i in range(50)]
    asyncio.run(_publish_with_one_malformed(settings, events))
    ports = {"redis": free_port(), "dynamodb": free_port()}
    workers = {}
    for store, port in ports.items():
        own = settings.model_copy(update={"web_port": port})
        workers[store] = WorkerProcess(services, own, tmp_path / f"{store}.log", stores=store)
        workers[store].start()
    try:
        for store, worker in workers.items():
            wait_for_fold(settings, events, worker, stores=[store])
        lag = {
            store: json.loads(fetch(f"http://127.0.0.1:{port}/lag"))
            for store, port in ports.items()
        }
    finally:
        for worker in workers.values():
            worker.stop()
    for store, other in zip(ports, reversed(ports), strict=True):
        assert [g["group"] for g in lag[store]["groups"]] == [store_group(settings.worker, store)]
        log = workers[store].log.read_text()
        assert f"agent apply-{store} applies" in log and f"apply-{other}" not in log
    letters = asyncio.run(read_topic(settings, settings.dlq_topic, 3, wait_seconds=3))
    assert [value for value, _ in letters] == [b"{oops", b"{oops"]


async def _publish_with_one_malformed(settings: Settings, events: list[ChangeEvent]) -> None:
    async with Publisher(settings.kafka_bootstrap_servers, settings.topic, settings.tables,
                         "tests") as pub:  # fmt: skip
        await pub.publish(events)
        await pub.send_raw(b"{oops", key=b"bad")
