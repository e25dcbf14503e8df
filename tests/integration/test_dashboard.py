"""The worker's web server: Prometheus metrics, lag as JSON, and a live dashboard in Chromium."""

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

import pytest

from streams.devstack.process import free_port, wait_until
from streams.kafka.groups import store_group
from streams.settings import Settings
from tests.conftest import Services
from tests.support import upsert
from tests.support.browser import Browser, chromium_path
from tests.support.worker import WorkerProcess, fetch, publish

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCREENSHOT = os.environ.get("CDC_DASHBOARD_SCREENSHOT")  # where to keep a picture, if anywhere


def test_metrics_lag_and_a_live_dashboard(services: Services, tmp_path: Path) -> None:
    if chromium_path() is None:
        pytest.fail("chromium is missing: `make test` installs it (apt-get install chromium)")
    port = free_port()
    settings = services.settings(web_enabled=True, web_port=port)
    base = f"http://127.0.0.1:{port}"
    worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
    try:
        assert wait_until(lambda: _answers(f"{base}/stats"), 60), worker.log_tail()
        asyncio.run(publish(settings, [upsert(uuid.uuid4().hex, "p", 1)]))
        asyncio.run(_drive_dashboard(settings, base, tmp_path))
        metrics = fetch(f"{base}/metrics").decode()
        assert 'cdc_writes_total{outcome="applied",store="redis"}' in metrics
        assert "cdc_apply_seconds_bucket" in metrics
        every = list(range(settings.topic_partitions))
        lag = json.loads(fetch(f"{base}/lag"))
        for store, shown in zip(("redis", "dynamodb"), lag["groups"], strict=True):
            group = store_group(settings, store)
            series = f'group="{group}",partition="0",store="{store}",topic="{settings.topic}"'
            assert f"cdc_lag_messages{{{series}}}" in metrics
            assert shown["group"] == store_group(settings, store)  # each store's own group
            assert [p["partition"] for p in shown["partitions"]] == every
    finally:
        worker.stop()


def _answers(url: str) -> bool:
    try:
        stats = json.loads(fetch(url))
    except OSError:
        return False
    return {p["store"] for p in stats["lag"]} == {"redis", "dynamodb"}  # each group's lag known


async def _drive_dashboard(settings: Settings, base: str, tmp_path: Path) -> None:
    async with Browser() as browser:
        await browser.open(f"{base}/dashboard")
        for store in ("redis", "dynamodb"):
            selector = f"tr.partition[data-store={store}]"
            rows = await _wait_for(browser, f"document.querySelectorAll('{selector}').length")
            assert rows == settings.topic_partitions
        before = int(await browser.evaluate("document.getElementById('records-total').textContent"))
        owner = uuid.uuid4().hex
        for burst in range(3):
            events = [upsert(owner, f"p{i}", burst * 1000 + i + 1) for i in range(200)]
            await publish(settings, events)
            await asyncio.sleep(1.0)
        after = await _wait_for(
            browser, f"+document.getElementById('records-total').textContent >= {before + 600}"
        )
        assert after is True
        status = await browser.evaluate("document.getElementById('status').textContent")
        assert status == "running"
        caught_up = "redis: 0 (OK), dynamodb: 0 (OK)"  # each group's status, as `lag` says
        by_store = "document.getElementById('lag-by-store').textContent"
        assert await _wait_for(browser, f"{by_store} === '{caught_up}'"), await browser.evaluate(
            by_store
        )
        if SCREENSHOT:
            picture = await browser.screenshot()
            await asyncio.to_thread(Path(SCREENSHOT).write_bytes, picture)
        assert browser.errors == []


async def _wait_for(browser: Browser, expression: str, within: float = 30) -> object:
    deadline = time.monotonic() + within
    while True:
        value = await browser.evaluate(expression)
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.25)
