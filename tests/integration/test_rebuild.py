"""Wipe a store, replay the topic into it, and the stores agree again."""

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from streams.cli.main import main
from streams.devstack.process import free_port
from streams.settings import Settings
from tests.conftest import Services
from tests.support import delete, upsert
from tests.support.worker import WorkerProcess, publish, wait_for_fold

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.emulators]


def test_rebuild_redis_from_the_topic_after_losing_it(
    services: Services, env_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = env_settings
    owner = uuid.uuid4().hex
    events = [upsert(owner, f"p{i % 40}", i + 1, metadata=f"m{i}", timestamp=i) for i in range(200)]
    events += [delete(owner, f"p{i}", 1000 + i) for i in range(5)]
    asyncio.run(publish(settings, events))
    worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
    try:
        wait_for_fold(settings, events, worker)
    finally:
        worker.stop()

    client = redis.Redis.from_url(settings.redis_url)
    lost = list(client.scan_iter(f"{settings.redis_key_prefix}:*"))
    assert lost
    client.delete(*lost)
    client.close()
    assert main(["verify"]) == 1
    capsys.readouterr()

    assert main(["rebuild", "--store", "redis"]) == 0
    out = capsys.readouterr().out
    assert f"replayed {len(events)} records into redis" in out
    assert main(["verify"]) == 0

    # From a point in time after everything: nothing to replay, and it still stops by itself.
    assert main(["rebuild", "--store", "redis", "--from-time", datetime.now(UTC).isoformat()]) == 0
    assert "replayed 0 records" in capsys.readouterr().out


@pytest.mark.emulators("moto")
def test_a_rebuild_into_a_store_that_is_down_stops_in_one_line(
    env_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A command that cannot do its job says so once, rather than retry like a worker."""
    asyncio.run(publish(env_settings, [upsert(uuid.uuid4().hex, "p", 1)]))  # one to write
    monkeypatch.setenv("CDC_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    assert main(["rebuild", "--store", "redis"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach Redis") and err.count("\n") == 1, err
