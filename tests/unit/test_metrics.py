"""What the worker reports per store: each store consumes in its own group."""

from connectors.store import WriteOutcome
from streams.kafka.lag import PartitionLag, Status
from streams.pipeline.replicator import BatchReport
from streams.worker.metrics import ReplicationMetrics


def report(store: str, records: int) -> BatchReport:
    return BatchReport(records, records, {store: WriteOutcome(applied=records)})


def test_records_count_per_store_and_the_total_is_what_every_store_applied() -> None:
    metrics = ReplicationMetrics(["redis", "dynamodb"])
    metrics.observe(report("redis", 100))
    metrics.observe(report("redis", 50))
    metrics.observe(report("dynamodb", 30))
    totals = metrics.stats()["totals"]
    assert (totals["redis.records"], totals["dynamodb.records"], totals["records"]) == (150, 30, 30)
    exposition = metrics.exposition().decode()
    assert 'cdc_records_total{store="dynamodb"} 30.0' in exposition


def test_lag_is_shown_per_store_group() -> None:
    metrics = ReplicationMetrics(["redis", "dynamodb"])
    metrics.owned = {"redis": {("changes", 0)}, "dynamodb": {("changes", 0)}}
    metrics.set_lag("redis", "g-redis", "changes", [PartitionLag(0, 10, 10)], now_ms=0)
    metrics.set_lag("dynamodb", "g-dynamodb", "changes", [PartitionLag(0, 4, 10)], now_ms=0)
    assert [(row["group"], row["lag"]) for row in metrics.lag] == [
        ("g-redis", 0),
        ("g-dynamodb", 6),
    ]
    exposition = metrics.exposition().decode()
    shown = 'cdc_lag_messages{group="g-dynamodb",partition="0",store="dynamodb",topic="changes"}'
    assert f"{shown} 6.0" in exposition


def test_a_worker_exports_the_lag_of_the_partitions_it_owns_only() -> None:
    """Two workers in a group: each partition's series comes from its owner alone."""
    lags = [PartitionLag(p, 0, 10 + p, oldest_unconsumed_ms=1000) for p in range(4)]
    first, second = ReplicationMetrics(["redis"]), ReplicationMetrics(["redis"])
    first.owned["redis"] = {("changes", 0), ("changes", 1)}
    second.owned["redis"] = {("changes", 2), ("changes", 3)}
    for worker in (first, second):
        worker.set_lag("redis", "g", "changes", lags, now_ms=3000)
    assert _series(first, "cdc_lag_messages") == {"0": 10.0, "1": 11.0}
    assert _series(second, "cdc_lag_seconds") == {"2": 2.0, "3": 2.0}
    first.owned["redis"] = {("changes", 0)}  # partition 1 moved to another worker: its series goes
    first.set_lag("redis", "g", "changes", lags, now_ms=3000)
    assert _series(first, "cdc_lag_messages") == {"0": 10.0}
    assert len(first.lag) == 4  # /lag and the dashboard still show the whole group


def test_partitions_given_up_in_a_rebalance_stop_being_exported_at_the_new_assignment() -> None:
    """Not at this worker's next refresh: their new owner may export them before it."""
    lags = [PartitionLag(p, 0, 10 + p) for p in range(4)]
    metrics = ReplicationMetrics(["redis"])
    metrics.assigned("redis", {("changes", p) for p in range(4)})
    metrics.set_lag("redis", "g", "changes", lags, now_ms=0)
    metrics.assigned("redis", set())  # revoked: every member of the group revokes at once
    assert set(_series(metrics, "cdc_lag_messages")) == {"0", "1", "2", "3"}  # no gap yet
    metrics.assigned("redis", {("changes", 0), ("changes", 1)})
    assert _series(metrics, "cdc_lag_messages") == {"0": 10.0, "1": 11.0}
    assert set(_series(metrics, "cdc_lag_seconds")) == {"0", "1"}


def test_each_consumed_topic_has_its_own_lag_series() -> None:
    """A group that also reads a Debezium topic shows that topic's lag beside the changes'."""
    metrics = ReplicationMetrics(["redis"])
    metrics.owned["redis"] = {("changes", 0), ("pg.public.users", 0)}
    metrics.set_lag("redis", "g", "changes", [PartitionLag(0, 10, 10)], now_ms=0)
    metrics.set_lag("redis", "g", "pg.public.users", [PartitionLag(0, 3, 10)], now_ms=0)
    assert [(row["topic"], row["lag"]) for row in metrics.lag] == [
        ("changes", 0),
        ("pg.public.users", 7),
    ]
    exposition = metrics.exposition().decode()
    assert 'partition="0",store="redis",topic="pg.public.users"} 7.0' in exposition
    assert 'partition="0",store="redis",topic="changes"} 0.0' in exposition


def test_the_status_gauge_is_one_for_the_current_status_only() -> None:
    metrics = ReplicationMetrics(["dynamodb"])
    metrics.set_status("dynamodb", "g-dynamodb", Status.OK)
    metrics.set_status("dynamodb", "g-dynamodb", Status.STALLED)
    shown = {
        s.labels["status"]: s.value
        for family in metrics.registry.collect()
        if family.name == "cdc_lag_status"
        for s in family.samples
    }
    assert shown == {"OK": 0, "LAGGING": 0, "STALLED": 1, "STOPPED": 0}


def _series(metrics: ReplicationMetrics, name: str) -> dict[str, float]:
    return {
        s.labels["partition"]: s.value
        for family in metrics.registry.collect()
        if family.name == name
        for s in family.samples
    }


def test_the_series_alerts_watch_exist_at_zero_from_the_start() -> None:
    """increase() cannot see the first rise of a series that first appears already at 3."""
    text = ReplicationMetrics(["redis", "dynamodb"]).exposition().decode()
    assert 'cdc_dead_letters_total{reason="not_json"} 0.0' in text
    assert 'cdc_retries_total{store="dynamodb"} 0.0' in text
    assert 'cdc_writes_total{outcome="rejected",store="redis"} 0.0' in text
