"""Input that is not a cdc-v1 event, through the real worker: Kafka tombstones (null values)."""

import asyncio
import urllib.request
import uuid
from pathlib import Path

import pytest

from streams.publisher import Publisher
from streams.stack.process import free_port, wait_until
from tests.conftest import Services
from tests.integration.worker import WorkerProcess, create_topics, read_topic, wait_for_fold
from tests.support import upsert

pytestmark = pytest.mark.integration


def metrics_text(port: int) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())
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
