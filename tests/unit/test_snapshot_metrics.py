"""Snapshot progress as metrics: per part, rate and ETA from the source's estimate."""

import socket
from collections import Counter

import pytest

from streams.model.errors import ConfigError
from streams.snapshot.metrics import SnapshotMetrics
from streams.snapshot.run import SnapshotSummary


def sample(metrics: SnapshotMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"source": "jsonl", **labels})


def test_items_per_part_rate_and_eta() -> None:
    metrics = SnapshotMetrics("jsonl", total=1000)
    summary = SnapshotSummary(Counter(published=190, problems=10), seconds=2.0)
    metrics.update(summary, {"1/2": {"published": 100}, "2/2": {"published": 90, "problems": 10}})
    assert sample(metrics, "cdc_snapshot_items", part="2/2", outcome="problems") == 10
    assert sample(metrics, "cdc_snapshot_items", part="1/2", outcome="published") == 100
    assert sample(metrics, "cdc_snapshot_items_per_second") == 95
    assert sample(metrics, "cdc_snapshot_eta_seconds") == pytest.approx(800 / 95)
    assert sample(metrics, "cdc_snapshot_done") == 0
    metrics.finished()
    assert (sample(metrics, "cdc_snapshot_done"), sample(metrics, "cdc_snapshot_eta_seconds")) == (
        1,
        0,
    )


def test_no_eta_without_an_estimate() -> None:
    metrics = SnapshotMetrics("jsonl", total=None)
    metrics.update(SnapshotSummary(Counter(published=5), seconds=1.0), {"1/1": {"published": 5}})
    assert sample(metrics, "cdc_snapshot_eta_seconds") is None


def test_a_taken_port_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"--metrics-port: cannot listen on 127.0.0.1:{port}"):
            SnapshotMetrics("jsonl", None).serve("127.0.0.1", port)
