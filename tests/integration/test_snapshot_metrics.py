"""`snapshot --metrics-port`: progress scraped from a running two-part snapshot."""

import asyncio
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.devstack.process import free_port
from streams.kafka.topics import changes_topics, ensure_topics
from tests.conftest import Services
from tests.integration.test_snapshot import _generate_legacy, unique_layout

pytestmark = [pytest.mark.integration]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def published(samples: Samples, part: str) -> float:
    labels = (("outcome", "published"), ("part", part), ("source", "redis-legacy"))
    return samples.get(("cdc_snapshot_items", labels), 0.0)


def test_a_running_snapshot_exposes_items_per_part_rate_and_eta(
    services: Services, tmp_path: Path
) -> None:
    settings = services.settings()
    layout = unique_layout()
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, changes_topics(settings.changes)))
    asyncio.run(_generate_legacy(settings, layout, owners=200, per_owner=10))
    port = free_port()
    argv = [sys.executable, "-m", "streams.cli.main", "snapshot", "--source", "redis-legacy",
            "--zset-pattern", layout.zset_pattern, "--meta-pattern", layout.meta_pattern,
            "--checkpoint", str(tmp_path / "snap.json"), "--chunk", "100", "--workers", "2",
            "--max-rate", "500", "--metrics-port", str(port)]  # fmt: skip
    env = services.env(settings)
    with (tmp_path / "snapshot.log").open("wb") as log:
        snapshot = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    scrapes: list[Samples] = []
    try:
        deadline = time.monotonic() + 60
        while snapshot.poll() is None and time.monotonic() < deadline:
            if samples := scrape(port):
                scrapes.append(samples)
            time.sleep(0.2)
        assert snapshot.wait(30) == 0, (tmp_path / "snapshot.log").read_text()
    finally:
        if snapshot.poll() is None:
            snapshot.kill()
            snapshot.wait(10)
    during = [s for s in scrapes if published(s, "1/2") + published(s, "2/2") > 0]
    assert len(during) >= 2, f"{len(scrapes)} scrapes, {len(during)} with progress"
    first, last = during[0], during[-1]
    for part in ("1/2", "2/2"):
        assert published(last, part) > 0
    assert published(last, "1/2") + published(last, "2/2") > published(first, "1/2") + published(
        first, "2/2"
    )
    source = (("source", "redis-legacy"),)
    assert last[("cdc_snapshot_items_per_second", source)] > 0
    assert last[("cdc_snapshot_eta_seconds", source)] > 0
    assert last[("cdc_snapshot_done", source)] == 0
