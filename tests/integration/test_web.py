"""The worker's web port serves our views only, and its debug log holds no secret."""

import asyncio
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from streams.devstack.process import free_port, wait_until
from tests.conftest import Services
from tests.support import upsert
from tests.support.worker import WorkerProcess, publish, wait_for_fold

pytestmark = pytest.mark.integration

# Faust's own pages: /router/<key>/ answered 500 with a logged traceback per request.
FAUST_PAGES = ["/router/", "/router/anything/", "/table/", "/table/t/", "/graph/",
               "/performance/", "/assignment/", "/no/such/page"]  # fmt: skip
OUR_VIEWS = ["/metrics", "/stats", "/lag", "/dashboard"]
ACCESS_KEY_ID, SECRET_KEY = "AKIDCDCTEST424242", "cdc-test-secret-424242"


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 -- our loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0  # not listening yet


def test_only_our_views_are_served_and_debug_logs_no_secret(
    services: Services, tmp_path: Path
) -> None:
    port = free_port()
    settings = services.settings(web_enabled=True, web_port=port)
    worker = WorkerProcess(services, settings, tmp_path / "worker.log", loglevel="debug")
    worker.env |= {"CDC_AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "CDC_AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    base = f"http://127.0.0.1:{port}"
    worker.start()
    try:
        assert wait_until(lambda: status(f"{base}/stats") == 200, 60), worker.log_tail()
        event = upsert(uuid.uuid4().hex, "p", 1)
        asyncio.run(publish(settings, [event]))
        wait_for_fold(settings, [event], worker)  # DynamoDB was written, with those keys
        logged_before = len(worker.log.read_text())
        answers = {page: status(base + page) for page in [*FAUST_PAGES, *OUR_VIEWS]}
        expected = dict.fromkeys(FAUST_PAGES, 404) | dict.fromkeys(OUR_VIEWS, 200)
        assert answers == expected
    finally:
        worker.stop()
    log = worker.log.read_text()
    assert "Traceback" not in log[logged_before:]
    assert ACCESS_KEY_ID not in log and SECRET_KEY not in log
