"""The shipped alert rules on a real Prometheus scraping a live worker: DynamoDB taken away
makes the lag alert fire for DynamoDB's group only, and bringing it back clears it."""

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from streams.devstack.process import free_port
from streams.kafka.groups import store_group
from tests.conftest import Services
from tests.support import upsert
from tests.support.prometheus import PrometheusServer, scaled_rules
from tests.support.proxy import TcpProxy
from tests.support.worker import WorkerProcess, create_topics, publish

pytestmark = [pytest.mark.integration, pytest.mark.slow]
T = TypeVar("T")
LAG_THRESHOLD = 3  # seconds, instead of the shipped 300


def test_dynamodb_down_fires_the_lag_alert_for_its_group_and_back_clears_it(
    services: Services, tmp_path: Path
) -> None:
    port = free_port()
    direct = services.settings(web_enabled=True, web_port=port, lag_refresh_seconds=1.0)
    rules = scaled_rules(tmp_path / "alerts.yml", {"> 300": f"> {LAG_THRESHOLD}"})
    asyncio.run(create_topics(direct))
    dynamodb_group = store_group(direct.worker, "dynamodb")
    with (
        TcpProxy(direct.stack.dynamodb_port) as proxy,
        PrometheusServer(tmp_path, rules, [f"127.0.0.1:{port}"]) as prometheus,
    ):
        settings = direct.model_copy(
            update={"dynamodb_endpoint_url": f"http://127.0.0.1:{proxy.port}"}
        )
        worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
        try:
            _wait(lambda: prometheus.value('cdc_lag_status{status="OK"} == 1'), worker, 60)
            assert prometheus.firing("CdcLagHigh") == []
            proxy.refuse()
            asyncio.run(publish(direct, [upsert(uuid.uuid4().hex, f"p{i}", 1) for i in range(6)]))
            firing = _wait(lambda: prometheus.firing("CdcLagHigh"), worker, 30)
            assert [(a["store"], a["group"]) for a in firing] == [("dynamodb", dynamodb_group)]
            stalled = prometheus.value('cdc_lag_status{status="STALLED"} == 1')
            assert [m["store"] for m, _ in stalled] == ["dynamodb"]
            proxy.accept()
            _wait(lambda: not prometheus.firing("CdcLagHigh"), worker, 30)
        finally:
            worker.stop()


def _wait(check: Callable[[], T], worker: WorkerProcess, timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert worker.alive(), worker.log_tail()
        assert time.monotonic() < deadline, worker.log_tail()
        time.sleep(0.5)
    return found
