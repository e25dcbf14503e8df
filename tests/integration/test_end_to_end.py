"""Through Kafka and the real worker process into both stores."""

import asyncio
import json
import os
import random
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.devstack.process import wait_until
from streams.kafka.publisher import Publisher
from streams.model.events import ChangeEvent
from streams.settings import Settings
from streams.stores import open_store
from streams.worker.run import prepare
from tests.conftest import Services
from tests.support import delete, histories, upsert
from tests.support.worker import (
    WorkerProcess,
    committed,
    publish,
    read_topic,
    wait_committed,
    wait_for_fold,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.emulators]


@pytest.fixture
def worker_settings(services: Services) -> Settings:
    settings_ = services.settings()
    asyncio.run(prepare(settings_, ["redis", "dynamodb"]))
    return settings_


@pytest.fixture
def worker(
    services: Services, worker_settings: Settings, tmp_path: Path
) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(services, worker_settings, tmp_path / "worker.log")
    yield proc
    proc.stop()


async def both_listings(settings_: Settings, owner: str) -> tuple[list[dict[str, object]], ...]:
    results = []
    for name in ("redis", "dynamodb"):
        store = open_store(settings_, name)
        try:
            results.append(await store.list_partition("opponents", owner, 100))
        finally:
            await store.close()
    return tuple(results)


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_shuffled_duplicated_history_ends_equal_in_both_stores(
    worker_settings: Settings, worker: WorkerProcess, data: st.DataObject
) -> None:
    owners = (f"{uuid.uuid4().hex[:6]}-a", f"{uuid.uuid4().hex[:6]}-b")
    events = data.draw(histories(owners=owners, max_events=40))
    if not worker.alive():
        worker.start()
    asyncio.run(publish(worker_settings, events))
    wait_for_fold(worker_settings, events, worker)
    for owner in owners:
        redis_list, dynamo_list = asyncio.run(both_listings(worker_settings, owner))
        assert redis_list == dynamo_list


def test_worker_killed_mid_stream_loses_nothing(
    worker_settings: Settings, worker: WorkerProcess
) -> None:
    rng = random.Random(7)
    owners = [f"owner-{i}" for i in range(30)]
    events: list[ChangeEvent] = []
    for i in range(20_000):
        owner, opponent, ts = rng.choice(owners), f"opp-{rng.randrange(5)}", rng.randrange(1, 10**6)
        event = (
            delete(owner, opponent, ts)
            if i % 10 == 0
            else upsert(owner, opponent, ts, metadata=f"m{i}", timestamp=ts)
        )
        events.append(event)
    asyncio.run(publish(worker_settings, events[:10_000]))
    worker.start()
    asyncio.run(publish(worker_settings, events[10_000:]))
    wait_committed(worker_settings, worker, at_least=3_000)
    worker.signal(signal.SIGKILL)
    worker.start()
    time.sleep(rng.uniform(2, 4))
    assert worker.signal(signal.SIGTERM) == 0, worker.log_tail()
    worker.start()
    wait_for_fold(worker_settings, events, worker, timeout=240)


def test_malformed_messages_are_dead_lettered_and_the_rest_applied(
    worker_settings: Settings, worker: WorkerProcess
) -> None:
    owner = uuid.uuid4().hex
    valid = [upsert(owner, f"p{i}", i + 1) for i in range(5)]
    malformed = {
        b"not json at all": "not_json",
        b'{"table": "opponents"}': "schema",
        json.dumps({**json.loads(valid[0].to_json()), "table": "nope"}).encode(): "unknown_table",
        json.dumps({**json.loads(valid[0].to_json()), "ts": -5}).encode(): "schema",
    }

    async def send() -> None:
        async with Publisher(worker_settings.kafka_bootstrap_servers, worker_settings.topic,
                             worker_settings.tables, "tests") as pub:  # fmt: skip
            for good, bad in zip(valid, [*malformed, None], strict=False):
                await pub.publish([good])
                if bad is not None:
                    await pub.send_raw(bad, key=b"bad")

    worker.start()
    asyncio.run(send())
    wait_for_fold(worker_settings, valid, worker)
    letters = asyncio.run(read_topic(worker_settings, worker_settings.dlq_topic, len(malformed)))
    assert {value: headers["cdc.error.reason"] for value, headers in letters} == malformed
    for _, headers in letters:
        assert headers["cdc.original.topic"] == worker_settings.topic
        assert int(headers["cdc.original.offset"]) >= 0 and headers["cdc.error.message"]
    assert worker.alive()


@pytest.mark.emulators("dynalite")  # a frozen process: how it answers before does not matter
def test_a_store_that_stops_answering_is_waited_out_and_nothing_is_committed(
    services: Services, worker_settings: Settings, worker: WorkerProcess
) -> None:
    """DynamoDB frozen (SIGSTOP): the worker retries, acks nothing, stops cleanly on SIGTERM, and
    a new worker applies everything once DynamoDB is back."""
    if services.dynamodb_pid is None:
        pytest.skip("needs the session's own DynamoDB process to pause")
    owner = uuid.uuid4().hex
    first, events = [upsert(owner, "p0", 1)], [upsert(owner, f"p{i}", i + 1) for i in range(1, 21)]
    worker.start()
    asyncio.run(publish(worker_settings, first))
    wait_for_fold(worker_settings, first, worker)
    baseline = sum(p.committed or 0 for p in committed(worker_settings))
    os.kill(services.dynamodb_pid, signal.SIGSTOP)
    try:
        asyncio.run(publish(worker_settings, events))
        # A call times out after 5 s and botocore tries twice before our own retry loop takes over.
        assert wait_until(lambda: "failed transiently" in worker.log.read_text(), 40), (
            worker.log_tail()
        )
        assert worker.alive(), worker.log_tail()
        assert sum(p.committed or 0 for p in committed(worker_settings)) == baseline
        began = time.monotonic()
        assert worker.signal(signal.SIGTERM) == 0, worker.log_tail()
        stop_seconds = time.monotonic() - began
    finally:
        os.kill(services.dynamodb_pid, signal.SIGCONT)
    assert sum(p.committed or 0 for p in committed(worker_settings)) == baseline
    assert stop_seconds < 30
    worker.start()
    wait_for_fold(worker_settings, first + events, worker)
    letters = asyncio.run(read_topic(worker_settings, worker_settings.dlq_topic, 1, wait_seconds=3))
    assert letters == []
