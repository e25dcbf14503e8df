"""What the worker did, for /metrics (Prometheus), /stats and /lag (JSON) and the dashboard."""

import time
from collections import Counter
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as PromCounter

from streams.lag import PartitionLag
from streams.replicator import BatchReport


class ReplicationMetrics:
    """Counters of one worker, in a registry of its own (tests run several apps in a process)."""

    def __init__(self) -> None:
        self.registry = reg = CollectorRegistry()
        self.writes = PromCounter(
            "cdc_writes", "Writes by outcome", ["store", "outcome"], registry=reg
        )
        self.dead_letters = PromCounter(
            "cdc_dead_letters", "Dead letters", ["reason"], registry=reg
        )
        self.retries = PromCounter(
            "cdc_retries", "Transient-failure retries", ["store"], registry=reg
        )
        self.records = PromCounter("cdc_records", "Records consumed", registry=reg)
        self.batch_size = Histogram(
            "cdc_batch_records", "Records per batch", registry=reg,
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
        )  # fmt: skip
        self.apply_seconds = Histogram(
            "cdc_apply_seconds", "Time to settle a batch in a store", ["store"], registry=reg
        )
        self.lag_messages = Gauge(
            "cdc_lag_messages", "Uncommitted messages", ["partition"], registry=reg
        )
        self.lag_seconds = Gauge(
            "cdc_lag_seconds", "Age of the oldest uncommitted message", ["partition"], registry=reg
        )
        self.totals: Counter[str] = Counter()
        self.lag: list[dict[str, Any]] = []
        self.status = "starting"
        self.started = time.time()

    def observe(self, report: BatchReport) -> None:
        self.records.inc(report.records)
        self.batch_size.observe(report.records)
        self.totals["records"] += report.records
        for store, outcome in report.outcomes.items():
            for name, count in (("applied", outcome.applied), ("stale", outcome.stale)):
                self.writes.labels(store, name).inc(count)
                self.totals[f"{store}.{name}"] += count
            self.apply_seconds.labels(store).observe(outcome.seconds)
        for letter in report.dead_letters:
            self.dead_letters.labels(letter.reason).inc()
            self.totals["dead_letters"] += 1
            self.totals[f"dead_letters.{letter.reason}"] += 1
        self.status = "running"

    def retried(self, store: str) -> None:
        """One retry of a transient failure, counted as it happens (a batch may take hours)."""
        self.retries.labels(store).inc()
        self.totals[f"{store}.retries"] += 1
        self.status = "retrying"  # until a batch is done

    def set_lag(self, partitions: list[PartitionLag], now_ms: int) -> None:
        if self.status == "starting":
            self.status = "running"  # assigned and committing, even with nothing to do
        self.lag = []
        for p in partitions:
            seconds = p.lag_seconds(now_ms)
            self.lag_messages.labels(str(p.partition)).set(p.lag)
            self.lag_seconds.labels(str(p.partition)).set(seconds)
            self.lag.append({"partition": p.partition, "committed": p.committed, "end": p.end,
                             "lag": p.lag, "lag_seconds": round(seconds, 3)})  # fmt: skip

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def stats(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "uptime_seconds": round(time.time() - self.started, 1),
            "totals": dict(self.totals),
            "lag": self.lag,
        }
