"""/health and /ready of a live worker, with a store taken away or wedged through a TCP proxy."""

import asyncio
import json
import re
import signal
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from streams.devstack.process import free_port
from streams.worker.health import HEARTBEAT_LIMIT_SECONDS
from tests.conftest import Services
from tests.support import upsert
from tests.support.proxy import TcpProxy
from tests.support.worker import WorkerProcess, create_topics, publish

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def probe(url: str) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body; (0, {}) while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 -- loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def wait_for_status(
    url: str, status: int, worker: WorkerProcess, timeout: float
) -> tuple[float, dict[str, Any]]:
    """Seconds until `url` answered `status`, and that answer's body."""
    started = time.monotonic()
    while True:
        code, body = probe(url)
        if code == status:
            return time.monotonic() - started, body
        assert worker.alive(), worker.log_tail()
        assert time.monotonic() - started < timeout, f"{url}: {code} {body}\n{worker.log_tail()}"
        time.sleep(0.2)


def test_ready_follows_a_store_outage_while_health_stays_ok(
    services: Services, tmp_path: Path
) -> None:
    port = free_port()
    direct = services.settings(web_enabled=True, web_port=port, retry_max_backoff_seconds=1.0)
    base = f"http://127.0.0.1:{port}"
    asyncio.run(create_topics(direct))
    with TcpProxy(direct.stack.dynamodb_port) as proxy:
        settings = direct.model_copy(
            update={"dynamodb_endpoint_url": f"http://127.0.0.1:{proxy.port}"}
        )
        worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
        try:
            wait_for_status(f"{base}/ready", 200, worker, timeout=60)
            proxy.refuse()
            asyncio.run(publish(direct, [upsert(uuid.uuid4().hex, "p", 1)]))  # a batch retries
            took, body = wait_for_status(f"{base}/ready", 503, worker, timeout=15)
            assert took < 8, f"/ready noticed the outage after {took:.1f}s"
            assert body["status"] == "failing"
            assert any(r.startswith("dynamodb: not answering") for r in body["reasons"]), body
            time.sleep(3)  # a few retries of the batch: still healthy
            assert probe(f"{base}/health") == (200, {"status": "ok", "reasons": []})
            proxy.accept()
            took, body = wait_for_status(f"{base}/ready", 200, worker, timeout=15)
            assert body["reasons"] == [] and set(body["partitions"]) == {"redis", "dynamodb"}
        finally:
            worker.stop()


def test_a_wedged_batch_turns_health_503(services: Services, tmp_path: Path) -> None:
    """A test double for a wedged store: Redis behind a proxy that holds every reply for a
    minute, so a batch neither finishes nor fails for longer than the (lowered) limit."""
    port = free_port()
    direct = services.settings(web_enabled=True, web_port=port, health_stuck_seconds=3.0)
    base = f"http://127.0.0.1:{port}"
    asyncio.run(create_topics(direct))
    with TcpProxy(direct.stack.redis_port) as proxy:
        settings = direct.model_copy(update={"redis_url": f"redis://127.0.0.1:{proxy.port}/0"})
        worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
        try:
            wait_for_status(f"{base}/ready", 200, worker, timeout=60)
            assert probe(f"{base}/health")[0] == 200
            proxy.delay = 60.0
            asyncio.run(publish(direct, [upsert(uuid.uuid4().hex, "p", 1)]))
            _, body = wait_for_status(f"{base}/health", 503, worker, timeout=20)
            assert body["status"] == "failing"
            assert body["reasons"][0].startswith("redis: batch in flight with no progress"), body
        finally:
            worker.stop()
            proxy.delay = 0.0


def test_a_frozen_loop_answers_nothing_then_503_once_it_turns_again(
    services: Services, tmp_path: Path
) -> None:
    """The whole worker frozen (SIGSTOP) longer than the heartbeat limit: its loop turns not at
    all, as if a call blocked it; /health has no answer meanwhile and 503 right after."""
    port = free_port()
    settings = services.settings(web_enabled=True, web_port=port)
    base = f"http://127.0.0.1:{port}"
    asyncio.run(create_topics(settings))
    worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
    try:
        wait_for_status(f"{base}/ready", 200, worker, timeout=60)
        assert probe(f"{base}/health")[0] == 200
        assert worker.proc is not None
        worker.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(HEARTBEAT_LIMIT_SECONDS + 1)
            assert probe(f"{base}/health") == (0, {})  # no answer: a probe's timeout
        finally:
            worker.proc.send_signal(signal.SIGCONT)
        _, body = wait_for_status(f"{base}/health", 503, worker, timeout=10)
        stalled = re.match(r"event loop stalled for (\d+)s", body["reasons"][0])
        assert stalled and int(stalled[1]) >= HEARTBEAT_LIMIT_SECONDS, body
    finally:
        worker.stop()
