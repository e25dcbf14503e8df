"""Two live workers in one group, both scraped: each partition's lag series comes from the
worker that owns it alone, and from the other one once the owner leaves."""

import asyncio
import signal
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.devstack.process import free_port
from streams.settings import Settings
from tests.conftest import Services
from tests.support.worker import WorkerProcess, create_topics, fetch

pytestmark = [pytest.mark.integration, pytest.mark.slow]
STORES = ("redis", "dynamodb")
Exported = dict[str, set[str]]  # store -> the partitions whose lag series a worker exports


def exported(port: int) -> Exported:
    owned: Exported = {store: set() for store in STORES}
    try:
        text = fetch(f"http://127.0.0.1:{port}/metrics").decode()
    except OSError:  # not listening yet
        return owned
    for family in text_string_to_metric_families(text):
        if family.name in ("cdc_lag_messages", "cdc_lag_seconds"):
            for sample in family.samples:
                owned[sample.labels["store"]].add(sample.labels["partition"])
    return owned


def start_worker(services: Services, base: Settings, log: Path) -> tuple[WorkerProcess, int]:
    port = free_port()
    settings = base.model_copy(update={"web_port": port, "data_dir": str(log.with_suffix(""))})
    return WorkerProcess(services, settings, log).start(), port


def test_each_partition_lag_series_comes_from_one_worker_of_the_group(
    services: Services, tmp_path: Path
) -> None:
    base = services.settings(web_enabled=True, lag_refresh_seconds=1.0, topic_partitions=4)
    asyncio.run(create_topics(base))
    every = {str(p) for p in range(base.topic_partitions)}
    first, first_port = start_worker(services, base, tmp_path / "first.log")
    second = None
    try:
        deadline = time.monotonic() + 90
        while exported(first_port) != dict.fromkeys(STORES, every):  # alone, it owns them all
            _still_waiting([first], deadline)
        # The second one joins: the first gives up some partitions, which the second exports.
        second, second_port = start_worker(services, base, tmp_path / "second.log")
        deadline, split_since = time.monotonic() + 90, None
        while split_since is None or time.monotonic() - split_since < 5:
            seen = exported(first_port), exported(second_port)
            for store in STORES:  # at every scrape, from before the rebalance to well after
                assert not seen[0][store] & seen[1][store], seen
            if all(seen[0][s] and seen[1][s] and seen[0][s] | seen[1][s] == every for s in STORES):
                split_since = split_since or time.monotonic()  # both together cover them all
            else:
                split_since = None
            _still_waiting([first, second], deadline, pause=0.1)
        second.signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while exported(first_port) != dict.fromkeys(STORES, every):  # it owns them all now
            _still_waiting([first], deadline)
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()


def _still_waiting(workers: list[WorkerProcess], deadline: float, pause: float = 0.5) -> None:
    for worker in workers:
        assert worker.alive(), worker.log_tail()
    assert time.monotonic() < deadline, "\n".join(w.log_tail() for w in workers)
    time.sleep(pause)
