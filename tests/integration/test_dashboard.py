"""The worker's web server: Prometheus metrics, lag as JSON, and a live dashboard in Chromium."""

import asyncio
import base64
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
# The picture docs/operating.md shows, taken by this test and kept only when the test passes.
DOCS_PICTURE = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
SCREENSHOT = Path(os.environ.get("CDC_DASHBOARD_SCREENSHOT", DOCS_PICTURE))


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
        picture = asyncio.run(_drive_dashboard(settings, base, tmp_path))
        metrics = fetch(f"{base}/metrics").decode()
        assert 'cdc_writes_total{outcome="applied",store="redis"}' in metrics
        assert "cdc_apply_seconds_bucket" in metrics
        every = list(range(settings.topic_partitions))
        lag = json.loads(fetch(f"{base}/lag"))
        for store, shown in zip(("redis", "dynamodb"), lag["groups"], strict=True):
            group = store_group(settings.worker, store)
            series = f'group="{group}",partition="0",store="{store}",topic="{settings.topic}"'
            assert f"cdc_lag_messages{{{series}}}" in metrics
            assert shown["group"] == store_group(settings.worker, store)  # each store's own group
            assert [p["partition"] for p in shown["partitions"]] == every
        SCREENSHOT.write_bytes(picture)
    finally:
        worker.stop()


def _answers(url: str) -> bool:
    try:
        stats = json.loads(fetch(url))
    except OSError:
        return False
    return {p["store"] for p in stats["lag"]} == {"redis", "dynamodb"}  # each group's lag known


async def _drive_dashboard(settings: Settings, base: str, tmp_path: Path) -> bytes:
    """Checks the page while events flow; gives back a picture of the whole page."""
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
        # A lag reading from before the events also says 0 (OK): wait for one that holds them,
        # every partition committed up to its end, which is also the picture the docs show.
        committed = await _wait_for(browser, _every_store_committed(before + 600))
        assert committed is True, await browser.evaluate(f"{PARTITION_ROWS}.map(r => r.innerText)")
        picture = await _whole_page(browser)
        assert browser.errors == []
        return picture


PARTITION_ROWS = "[...document.querySelectorAll('tr.partition')]"


def _every_store_committed(at_least: int) -> str:
    """In the partition table: every row committed up to its end, and each store's ends adding
    up to `at_least` records."""
    return f"""(() => {{
        const ends = {{}};
        for (const row of {PARTITION_ROWS}) {{
            const [committed, end] = [row.cells[3].textContent, row.cells[4].textContent];
            if (committed !== end) return false;
            ends[row.dataset.store] = (ends[row.dataset.store] || 0) + Number(end);
        }}
        return ["redis", "dynamodb"].every((store) => ends[store] >= {at_least});
    }})()"""


async def _whole_page(browser: Browser) -> bytes:
    """The page from top to bottom, not only the window's first screen, as a wide window
    shows it (headless Chromium's is 800 pixels, which wraps the partition table)."""
    window = {"width": 1100, "height": 800, "deviceScaleFactor": 1, "mobile": False}
    await browser.call("Emulation.setDeviceMetricsOverride", **window)
    layout = await browser.call("Page.getLayoutMetrics")
    size = layout["result"]["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    reply = await browser.call(
        "Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True
    )
    return base64.b64decode(reply["result"]["data"])


async def _wait_for(browser: Browser, expression: str, within: float = 30) -> object:
    deadline = time.monotonic() + within
    while True:
        value = await browser.evaluate(expression)
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.25)
