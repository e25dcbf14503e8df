"""The worker starts from any folder, and stops (rather than retrying) on refused credentials."""

import asyncio
from pathlib import Path

import pytest

from streams.worker import prepare
from tests.conftest import Services
from tests.integration.worker import WorkerProcess, publish, wait_for_fold
from tests.support import upsert

pytestmark = pytest.mark.integration


def test_the_worker_keeps_its_state_under_the_stack_dir_from_any_folder(
    services: Services, tmp_path: Path
) -> None:
    settings = services.settings()
    asyncio.run(prepare(settings, ["redis", "dynamodb"]))
    elsewhere, stack_dir = tmp_path / "elsewhere", tmp_path / "state"
    elsewhere.mkdir()
    worker = WorkerProcess(services, settings, tmp_path / "worker.log")
    del worker.env["CDC_DATA_DIR"]
    worker.env["CDC_STACK_DIR"] = str(stack_dir)
    worker.cwd = elsewhere  # no .stack here
    events = [upsert("owner", "p", 7)]
    asyncio.run(publish(settings, events))
    worker.start()
    try:
        wait_for_fold(settings, events, worker, timeout=120)
    finally:
        worker.stop()
    assert (stack_dir / "worker").is_dir()
    assert list(elsewhere.iterdir()) == []
