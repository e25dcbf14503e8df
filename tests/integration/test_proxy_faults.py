"""Faults injected by a TCP proxy between the worker and a store: refused connections, latency."""

import asyncio
import json
import re
import time
import uuid
from pathlib import Path

import pytest

from streams.cli.main import main
from streams.kafka.groups import store_group
from streams.kafka.lag import PartitionLag
from streams.model.events import ChangeEvent, ItemId
from streams.settings import Settings
from streams.stores import open_store
from tests.conftest import Services
from tests.integration.test_faults import history, publish_after_prepare
from tests.support import upsert
from tests.support.proxy import TcpProxy
from tests.support.worker import (
    WorkerProcess,
    committed,
    publish,
    read_records,
    read_topic,
    wait_caught_up,
    wait_committed,
    wait_for_fold,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
NEAREST = 30


def test_dynamodb_refusing_connections_for_10_seconds_mid_drain(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = services.settings()
    events = history(1_200, seed=21)
    with TcpProxy(direct.stack.dynamodb_port) as proxy:
        settings = direct.model_copy(
            update={"dynamodb_endpoint_url": f"http://127.0.0.1:{proxy.port}"}
        )
        asyncio.run(publish_after_prepare(direct, events[:600]))
        worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
        try:
            wait_committed(settings, worker, at_least=100)
            proxy.refuse()
            asyncio.run(publish(direct, events[600:]))
            time.sleep(10)
            assert worker.alive(), worker.log_tail()
            during = sum(p.lag for p in committed(settings))
            proxy.accept()
            wait_for_fold(settings, events, worker, timeout=240)
        finally:
            worker.stop()
    assert during > 0  # the outage held the drain up: nothing was committed past the stores
    assert "failed transiently" in worker.log.read_text()
    assert asyncio.run(read_topic(direct, direct.dlq_topic, 1, wait_seconds=3)) == []
    for name, value in direct.as_env().items():
        monkeypatch.setenv(name, value)
    assert main(["verify"]) == 0


POLL_INTERVAL = 3.0  # CDC_KAFKA_MAX_POLL_INTERVAL_SECONDS, lowered from 300 to keep this short


def test_dynamodb_down_at_start_and_for_long_leaves_redis_current_and_the_groups_stable(
    services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """DynamoDB refused at start, then again for several max poll intervals: the Redis agent
    keeps up all along, the DynamoDB agent catches up after, and no group ever rebalances."""
    direct = services.settings(kafka_max_poll_interval_seconds=POLL_INTERVAL)
    events = history(1_500, seed=23)
    asyncio.run(publish_after_prepare(direct, events[:500]))
    for name, value in direct.as_env().items():
        monkeypatch.setenv(name, value)
    with TcpProxy(direct.stack.dynamodb_port) as proxy:
        settings = direct.model_copy(
            update={"dynamodb_endpoint_url": f"http://127.0.0.1:{proxy.port}"}
        )
        proxy.refuse()
        worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
        try:
            wait_caught_up(settings, worker, stores=["redis"], timeout=90)  # DynamoDB down
            assert sum(p.lag for p in committed(settings, ["dynamodb"])) == 500
            # Both agents are named at start, the one whose store is down too.
            assert "agent apply-dynamodb will apply the batches" in worker.log.read_text()
            assert "agent apply-redis applies the batches" in worker.log.read_text()
            proxy.accept()
            wait_caught_up(settings, worker, timeout=120)
            proxy.refuse()
            refused = time.monotonic()
            asyncio.run(publish(direct, events[500:]))
            wait_caught_up(settings, worker, stores=["redis"], timeout=90)
            time.sleep(max(0.0, 4 * POLL_INTERVAL - (time.monotonic() - refused)))
            assert worker.alive(), worker.log_tail()
            behind = sum(p.lag for p in committed(settings, ["dynamodb"]))
            main(["lag", "--json", "--samples", "1"])
            proxy.accept()
            wait_for_fold(settings, events, worker, timeout=240)
        finally:
            worker.stop()
    assert behind > 0  # DynamoDB's group waited for DynamoDB while Redis's kept up
    shown = {g["group"]: g["lag"] for g in json.loads(capsys.readouterr().out)["groups"]}
    redis_group, dynamodb_group = (store_group(direct.worker, s) for s in ("redis", "dynamodb"))
    assert shown[redis_group] == 0 and shown[dynamodb_group] > 0
    log = worker.log.read_text()
    assert "partitions paused until the store answers" in log
    for store in ("redis", "dynamodb"):
        group = store_group(settings.worker, store)
        joins = re.findall(rf"Joined group '{group}' \(generation", log)
        assert len(joins) == 1, f"{store}'s group rebalanced:\n{worker.log_tail()}"
    assert main(["verify"]) == 0


def test_a_slow_store_never_lets_the_commit_run_ahead_of_what_it_holds(
    services: Services, tmp_path: Path
) -> None:
    """Redis answers 100 ms late on every chunk; sampled all along the drain, every message
    below an offset a store's group committed is already in that store."""
    direct = services.settings(batch_max_events=50)
    owner = uuid.uuid4().hex
    events = [upsert(owner, f"opp-{i}", i + 1) for i in range(600)]
    asyncio.run(publish_after_prepare(direct, events))
    positions = asyncio.run(_positions(direct, len(events)))
    samples = 0
    with TcpProxy(direct.stack.redis_port, delay_seconds=0.1) as proxy:
        settings = direct.model_copy(update={"redis_url": f"redis://127.0.0.1:{proxy.port}/0"})
        worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
        try:
            while True:
                lags = committed(settings, ["redis"])  # the slow store's own group
                if lags and sum(p.lag for p in lags) == 0:
                    break
                assert worker.alive(), worker.log_tail()
                samples += _check_committed_are_stored(direct, "redis", lags, positions)
                time.sleep(0.1)
            lags = committed(settings, ["dynamodb"])
            _check_committed_are_stored(direct, "dynamodb", lags, positions)
            wait_for_fold(direct, events, worker)  # read back past the slow proxy
        finally:
            worker.stop()
    assert samples >= 3, "the drain was too quick to sample; slow the proxy down"


def _check_committed_are_stored(
    settings: Settings,
    store: str,
    lags: list[PartitionLag],
    positions: dict[tuple[int, int], ChangeEvent],
) -> int:
    """Offsets first, stores after: the stores can only have moved on since."""
    below = {p.partition: p.committed or 0 for p in lags}
    if not any(below.values()):
        return 0
    spec = settings.tables["opponents"]
    # The messages just below each committed offset: the ones a commit run ahead would miss.
    must_hold = [
        e.item_id(spec)
        for (part, off), e in positions.items()
        if below[part] - NEAREST <= off < below[part]
    ]
    held = asyncio.run(_held(settings, store, must_hold))
    missing = [item for item, stored in zip(must_hold, held, strict=True) if not stored]
    assert not missing, f"{store}: committed but not stored: {missing[:3]}"
    return 1


async def _held(settings: Settings, store_name: str, items: list[ItemId]) -> list[bool]:
    store = open_store(settings, store_name)
    try:
        held = await store.read_many("opponents", items)
        return [item in held for item in items]
    finally:
        await store.close()


async def _positions(settings: Settings, count: int) -> dict[tuple[int, int], ChangeEvent]:
    """Each published event by (partition, offset)."""
    records = await read_records(settings, settings.topic, count)
    assert len(records) == count
    return {
        (m.partition, m.offset): ChangeEvent.model_validate_json(m.value or b"") for m in records
    }
