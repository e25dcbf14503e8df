"""What the worker did, for /metrics (Prometheus), /stats and /lag (JSON) and the dashboard."""

import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as PromCounter

from streams.kafka.connector_sources import STATES, SourceState
from streams.kafka.lag import PartitionLag, Status
from streams.model.errors import REASONS
from streams.pipeline.replicator import BatchReport


class ReplicationMetrics:
    """Counters of one worker, in a registry of its own (tests run several apps in a process).

    Each store consumes the topic in its own group, so records and lag are counted per store;
    the `records` total is what every store of the worker has applied.
    """

    def __init__(self, stores: Sequence[str] = ()) -> None:
        self.stores = list(stores)
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
        self.tombstones = PromCounter(
            "cdc_tombstones_skipped", "Null-value records (Kafka tombstones) skipped", registry=reg
        )
        self.records = PromCounter("cdc_records", "Records consumed", ["store"], registry=reg)
        self.holes = PromCounter(
            "cdc_items_without_values",
            "Items written with no value of attributes the source left unchanged and no earlier"
            " write carried (filled by verify --source postgres --repair)",
            ["store"], registry=reg,
        )  # fmt: skip
        self._start_at_zero()
        self.batch_size = Histogram(
            "cdc_batch_records", "Records per batch", registry=reg,
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
        )  # fmt: skip
        self.apply_seconds = Histogram(
            "cdc_apply_seconds", "Time to settle a batch in a store", ["store"], registry=reg
        )
        lag_labels = ["store", "group", "topic", "partition"]
        self.lag_messages = Gauge(
            "cdc_lag_messages", "Uncommitted messages", lag_labels, registry=reg
        )
        self.lag_seconds = Gauge(
            "cdc_lag_seconds", "Age of the oldest uncommitted message", lag_labels, registry=reg
        )
        self.lag_status = Gauge(
            "cdc_lag_status", "1 for the group's current status (Burrow's rules)",
            ["store", "group", "status"], registry=reg,
        )  # fmt: skip
        self.source_state = Gauge(
            "cdc_source_connector", "1 for the state of the connector feeding a Debezium source",
            ["source", "state"], registry=reg,
        )  # fmt: skip
        self.sources: list[SourceState] = []  # watched when CDC_CONNECT_URL is set
        # Per store, the (topic, partition)s this worker owns: it exports only their lag, so
        # several workers in a group never export one partition twice.
        self.owned: dict[str, set[tuple[str, int]]] = {}
        self._exported: dict[tuple[str, str, str], set[int]] = {}  # (store, group, topic)
        self.totals: Counter[str] = Counter()
        # Per store, per topic it consumes (the changes topic, Debezium topics), the rows.
        self.lag_by_store: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.group_status: dict[str, str] = {}
        self.retrying: set[str] = set()  # stores whose batch in flight is being retried
        self.status = "starting"
        self.started = time.time()

    def _start_at_zero(self) -> None:
        """Every series an alert watches exists from the start at 0: Prometheus' increase()
        and rate() cannot see the first rise of a series that appears already at 3."""
        for reason in REASONS:
            self.dead_letters.labels(reason)
        for store in self.stores:
            self.retries.labels(store)
            self.records.labels(store)
            self.holes.labels(store)
            for outcome in ("applied", "stale", "rejected"):
                self.writes.labels(store, outcome)

    def observe(self, report: BatchReport) -> None:
        self.batch_size.observe(report.records)
        for store, outcome in report.outcomes.items():
            self.records.labels(store).inc(report.records)
            self.totals[f"{store}.records"] += report.records
            counts = (("applied", outcome.applied), ("stale", outcome.stale),
                      ("rejected", len(outcome.rejected)))  # fmt: skip
            for name, count in counts:
                self.writes.labels(store, name).inc(count)
                self.totals[f"{store}.{name}"] += count
            self.apply_seconds.labels(store).observe(outcome.seconds)
            if outcome.holes:
                self.holes.labels(store).inc(len(outcome.holes))
                self.totals[f"{store}.items_without_values"] += len(outcome.holes)
        if report.tombstones:
            self.tombstones.inc(report.tombstones)
            self.totals["tombstones_skipped"] += report.tombstones
        for letter in report.dead_letters:
            self.dead_letters.labels(letter.reason).inc()
            self.totals["dead_letters"] += 1
            self.totals[f"dead_letters.{letter.reason}"] += 1
        stores = self.stores or list(report.outcomes)
        self.totals["records"] = min(self.totals[f"{store}.records"] for store in stores)
        self.retrying.difference_update(report.outcomes)
        # One store's finished batch says nothing of the other's: retrying while any retries.
        self.status = "retrying" if self.retrying else "running"

    def retried(self, store: str) -> None:
        """One retry of a transient failure, counted as it happens (a batch may take hours)."""
        self.retries.labels(store).inc()
        self.totals[f"{store}.retries"] += 1
        self.retrying.add(store)
        self.status = "retrying"  # until this store's batch is done

    def set_lag(
        self, store: str, group: str, topic: str, partitions: list[PartitionLag], now_ms: int
    ) -> None:
        """The group's lag on one topic it consumes."""
        if self.status == "starting":
            self.status = "running"  # assigned and committing, even with nothing to do
        rows = []
        owned = {p for t, p in self.owned.get(store, set()) if t == topic}
        for p in partitions:
            seconds = p.lag_seconds(now_ms)
            if p.partition in owned:
                self.lag_messages.labels(store, group, topic, str(p.partition)).set(p.lag)
                self.lag_seconds.labels(store, group, topic, str(p.partition)).set(seconds)
            rows.append({"store": store, "group": group, "topic": topic,
                         "partition": p.partition, "committed": p.committed, "end": p.end,
                         "lag": p.lag, "lag_seconds": round(seconds, 3)})  # fmt: skip
        self._forget(store, group, topic, self._exported.get((store, group, topic), set()) - owned)
        self._exported[(store, group, topic)] = owned
        self.lag_by_store.setdefault(store, {})[topic] = rows

    def assigned(self, store: str, partitions: set[tuple[str, int]]) -> None:
        """The (topic, partition)s this worker owns for `store` now. A new assignment drops the
        series of the partitions given up at once, not at the next refresh: their new owner
        may export them first. A revocation (nothing owned, mid-rebalance) keeps them until
        the next refresh: every member revokes at once, and a group whose series all vanish
        restarts its alerts' `for`."""
        self.owned[store] = partitions
        if not partitions:
            return
        for (exporter, group, topic), exported in self._exported.items():
            if exporter == store:
                kept = {p for t, p in partitions if t == topic}
                self._forget(store, group, topic, exported - kept)
                exported.intersection_update(kept)

    def _forget(self, store: str, group: str, topic: str, partitions: set[int]) -> None:
        """Partitions given up to another worker: their series are its to export now."""
        for partition in partitions:
            for gauge in (self.lag_messages, self.lag_seconds):
                with contextlib.suppress(KeyError):
                    gauge.remove(store, group, topic, str(partition))

    def set_status(self, store: str, group: str, status: Status) -> None:
        for each in Status:
            self.lag_status.labels(store, group, each.value).set(1 if each == status else 0)
        self.group_status[store] = status.value

    def set_sources(self, states: list[SourceState]) -> None:
        """Each declared Debezium source's connector state, one series per state (1 for the
        current one), like the lag status."""
        for source in states:
            for state in dict.fromkeys((*STATES, source.state)):
                self.source_state.labels(source.source, state).set(state == source.state)
        self.sources = states

    def store_lag(self, store: str) -> list[dict[str, Any]]:
        """The store's group's partitions, of every topic it consumes."""
        return [row for rows in self.lag_by_store.get(store, {}).values() for row in rows]

    @property
    def lag(self) -> list[dict[str, Any]]:
        """Every store's partitions, stores in the order their lag was first read."""
        return [row for store in self.lag_by_store for row in self.store_lag(store)]

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def stats(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "uptime_seconds": round(time.time() - self.started, 1),
            "totals": dict(self.totals),
            "lag": self.lag,
            "group_status": dict(self.group_status),
            "retrying": sorted(self.retrying),
            "sources": [source.as_json() for source in self.sources],
        }
