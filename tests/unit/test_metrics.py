"""What the worker reports per store: each store consumes in its own group."""

from connectors.sink import WriteOutcome
from streams.lag import PartitionLag
from streams.metrics import ReplicationMetrics
from streams.replicator import BatchReport


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
    metrics.set_lag("redis", "g-redis", [PartitionLag(0, 10, 10)], now_ms=0)
    metrics.set_lag("dynamodb", "g-dynamodb", [PartitionLag(0, 4, 10)], now_ms=0)
    assert [(row["group"], row["lag"]) for row in metrics.lag] == [
        ("g-redis", 0),
        ("g-dynamodb", 6),
    ]
    assert 'cdc_lag_messages{partition="0",store="dynamodb"} 6.0' in metrics.exposition().decode()
