import asyncio
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from connectors.dynamodb.client import is_access_refused
from connectors.redis.store import PART_RECORDS
from connectors.store import WriteOutcome
from streams.kafka.records import RawRecord, Record
from streams.model.events import ChangeEvent
from streams.model.tables import DEFAULT_TABLES, TableSpec
from streams.pipeline.replicator import BatchReport, Replicator
from streams.retry import Backoff
from streams.worker.metrics import ReplicationMetrics
from tests.support import EveryStore, MemoryDeadLetters, MemoryStore, delete, upsert

TABLES = dict(DEFAULT_TABLES)
FAST = Backoff(initial=0.001, maximum=0.002)
ROWS = TableSpec(partition_key="id", format="debezium", source="pg.public.rows")


def records(*values: bytes | None) -> list[Record]:
    return [RawRecord("changes", 0, offset, b"k", value) for offset, value in enumerate(values)]


def make(stores: list[MemoryStore]) -> tuple[EveryStore, MemoryDeadLetters]:
    dlq = MemoryDeadLetters()
    return EveryStore(TABLES, stores, dlq, FAST), dlq


def test_valid_events_around_malformed_ones_are_applied() -> None:
    redis, dynamo = MemoryStore("redis"), MemoryStore("dynamodb")
    replicator, dlq = make([redis, dynamo])
    good1, good2 = upsert("o", "p", 1), upsert("o", "q", 2)
    batch = records(good1.to_json(), b"garbage", good2.to_json(), b'{"table": "nope"}', b"")
    report = asyncio.run(replicator.process(batch))
    assert report.records == 5 and report.items == 2 and report.tombstones == 0
    assert {
        store.name: o.applied for store in (redis, dynamo) for o in [report.outcomes[store.name]]
    } == {
        "redis": 2,
        "dynamodb": 2,
    }
    assert dlq.reasons() == ["not_json", "schema", "not_json"]
    headers = dict(dlq.sent[0][3])
    assert headers["cdc.original.topic"] == b"changes"
    assert headers["cdc.original.partition"] == b"0" and headers["cdc.original.offset"] == b"1"
    assert dlq.sent[0][2] == b"garbage" and dlq.sent[0][0] == "changes.dlq"


def test_kafka_tombstones_are_skipped_and_counted_not_dead_lettered() -> None:
    store = MemoryStore("redis")
    replicator, dlq = make([store])
    before, after = upsert("o", "p", 1), upsert("o", "q", 2)
    report = asyncio.run(replicator.process(records(before.to_json(), None, None, after.to_json())))
    assert report.tombstones == 2 and dlq.sent == []
    assert report.items == 2 and report.outcomes["redis"].applied == 2
    metrics = ReplicationMetrics(["redis"])
    metrics.observe(report)
    assert "cdc_tombstones_skipped_total 2.0" in metrics.exposition().decode()
    assert metrics.stats()["totals"]["tombstones_skipped"] == 2


def test_only_one_agent_counts_tombstones() -> None:
    replicator = Replicator(TABLES, MemoryStore(), MemoryDeadLetters(), FAST, owns_invalid=False)
    assert asyncio.run(replicator.process(records(None))).tombstones == 0


def test_only_the_winner_of_a_batch_is_written() -> None:
    store = MemoryStore()
    replicator, _ = make([store])
    events = [upsert("o", "p", ts) for ts in (3, 1, 9, 2)] + [delete("o", "p", 5)]
    report = asyncio.run(replicator.process(records(*(e.to_json() for e in events))))
    assert report.items == 1 and report.outcomes["memory"].applied == 1
    assert store.items[events[2].item_id(TABLES["opponents"])].ts == 9


def test_transient_failures_are_retried_until_applied_never_dead_lettered() -> None:
    flaky = MemoryStore("redis", fail_times=3)
    replicator, dlq = make([flaky, MemoryStore("dynamodb")])
    report = asyncio.run(replicator.process(records(upsert("o", "p", 1).to_json())))
    assert report.outcomes["redis"].applied == 1 and report.outcomes["redis"].retries == 3
    assert flaky.writes == 4 and dlq.sent == []


def test_a_write_a_store_rejects_is_dead_lettered_once() -> None:
    bad = upsert("o", "p", 1, event_id="bad")
    for name in ("redis", "dynamodb"):  # each store's replicator letters its own rejections
        store = MemoryStore(name)
        store.reject_ids.add("bad")
        replicator, dlq = make([store])
        asyncio.run(replicator.process(records(bad.to_json(), upsert("o", "q", 1).to_json())))
        assert dlq.reasons() == ["rejected_by_store"]
        assert json.loads(dlq.sent[0][2] or b"")["event_id"] == "bad"


def test_cancelling_a_stuck_batch_returns_nothing() -> None:
    """A worker stopping while a store is down abandons the batch: process() never returns."""
    down = MemoryStore("redis", fail_times=10**9)
    replicator, dlq = make([down])

    async def run() -> None:
        task = asyncio.create_task(replicator.process(records(upsert("o", "p", 1).to_json())))
        await asyncio.sleep(0.05)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(run())
    assert down.items == {} and dlq.sent == []


def test_backoff_grows_to_its_cap_and_never_ends() -> None:
    delays = Backoff(initial=0.1, maximum=1.0).delays()
    taken = [next(delays) for _ in range(50)]
    assert all(0.05 <= d <= 1.0 for d in taken)
    assert max(taken[10:]) > 0.5


def test_retries_are_reported_as_they_happen_not_when_the_batch_is_done() -> None:
    store = MemoryStore("redis", fail_times=3)
    seen: list[tuple[str, int]] = []

    def on_retry(name: str) -> None:
        seen.append((name, store.fail_times))  # failures still to come: the batch is not done

    replicator = Replicator(TABLES, store, MemoryDeadLetters(), FAST, on_retry)
    asyncio.run(replicator.process(records(upsert("o", "p", 1).to_json())))
    assert seen == [("redis", 2), ("redis", 1), ("redis", 0)]


def test_the_retries_metric_counts_each_retry_and_the_status_says_retrying() -> None:
    metrics = ReplicationMetrics()
    metrics.retried("redis")
    metrics.retried("redis")
    assert 'cdc_retries_total{store="redis"} 2.0' in metrics.exposition().decode()
    assert metrics.stats()["status"] == "retrying"
    metrics.observe(BatchReport(records=1, items=1, outcomes={"redis": WriteOutcome(retries=2)}))
    assert 'cdc_retries_total{store="redis"} 2.0' in metrics.exposition().decode()  # not twice
    assert metrics.stats()["status"] == "running"


def test_one_stores_finished_batch_does_not_hide_the_other_retrying() -> None:
    metrics = ReplicationMetrics(["redis", "dynamodb"])
    metrics.retried("dynamodb")
    metrics.observe(BatchReport(records=1, items=1, outcomes={"redis": WriteOutcome()}))
    assert metrics.stats()["status"] == "retrying"
    assert metrics.stats()["retrying"] == ["dynamodb"]
    metrics.observe(BatchReport(records=1, items=1, outcomes={"dynamodb": WriteOutcome()}))
    assert (metrics.stats()["status"], metrics.stats()["retrying"]) == ("running", [])


@pytest.mark.parametrize(
    ("code", "status", "refused"),
    [("UnrecognizedClientException", 400, True), ("AccessDeniedException", 400, True),
     ("InvalidSignatureException", 400, True), ("ExpiredTokenException", 400, True),
     ("403", 403, True), ("ThrottlingException", 400, False),
     ("ProvisionedThroughputExceededException", 400, False), ("InternalServerError", 500, False)],
)  # fmt: skip
def test_dynamodb_access_refusals_are_told_from_transient_errors(
    code: str, status: int, refused: bool
) -> None:
    response: Any = {"Error": {"Code": code, "Message": "m"},
                     "ResponseMetadata": {"HTTPStatusCode": status}}  # fmt: skip
    error = ClientError(response, "PutItem")
    assert is_access_refused(error) is refused


class SlowMemoryStore(MemoryStore):
    """Records when each write was sent and when it finished, in decode steps."""

    def __init__(self) -> None:
        super().__init__("redis", part_records=PART_RECORDS)
        self.log: list[str] = []

    async def write(self, batch: Any) -> WriteOutcome:
        self.log.append(f"sent {len(batch)}")
        await asyncio.sleep(0.01)  # the server at work
        outcome = await super().write(batch)
        self.log.append("done")
        return outcome


def test_a_batch_is_written_in_parts_each_sent_before_the_next_is_decoded() -> None:
    store = SlowMemoryStore()
    replicator, dlq = make([store])
    events = [upsert("o", f"p{i}", 1) for i in range(PART_RECORDS * 2)]
    newest = upsert("o", "p0", 9)  # the same item in the second part, newer
    bad = b"garbage"
    batch = records(*(e.to_json() for e in events), newest.to_json(), bad)
    report = asyncio.run(replicator.process(batch))
    # Three parts, all sent before the first finished: the store worked while the rest
    # was decoded.
    assert store.log[:3] == [f"sent {PART_RECORDS}", f"sent {PART_RECORDS}", "sent 1"]
    assert report.records == len(batch) and report.items == len(events) + 1
    assert report.outcomes["redis"].applied == len(events) + 1  # p0 twice: 1, then 9
    assert store.items[newest.item_id(TABLES["opponents"])] == newest
    assert dlq.reasons() == ["not_json"]


def test_dynamodb_gets_the_batch_coalesced_whole() -> None:
    # Each DynamoDB write costs a write unit: duplicates across parts must not be written twice.
    store = MemoryStore("dynamodb")
    replicator, _ = make([store])
    events = [upsert("o", "p", ts) for ts in range(1, PART_RECORDS * 2 + 2)]
    report = asyncio.run(replicator.process(records(*(e.to_json() for e in events))))
    assert store.writes == 1 and report.items == 1 and report.outcomes["dynamodb"].applied == 1


def whole_then_partial() -> tuple[ChangeEvent, ChangeEvent]:
    """A row whose newer change left its long `body` unchanged (a Debezium table's)."""
    fields: dict[str, Any] = {"table": "rows", "op": "upsert", "key": {"id": "7"}, "origin": "pg"}
    whole = ChangeEvent(**fields, data={"body": "long", "n": 1}, ts=1, event_id="a")
    return whole, ChangeEvent(**fields, data={"n": 2}, unchanged=["body"], ts=2, event_id="b")


def test_a_part_holding_a_partial_upsert_waits_for_the_writes_before_it() -> None:
    """A store merges a partial upsert with what it holds: never while an older write of the
    same item, in an earlier part, is still in flight."""
    store = SlowMemoryStore()
    tables = {**TABLES, "rows": ROWS}
    replicator = Replicator(tables, store, MemoryDeadLetters(), FAST)
    whole, partial = whole_then_partial()
    fillers = [upsert("o", f"p{i}", 1) for i in range(PART_RECORDS - 1)]
    batch = records(whole.to_json(), *(e.to_json() for e in fillers), partial.to_json())
    asyncio.run(replicator.process(batch))
    assert store.log[:3] == [f"sent {PART_RECORDS}", "done", "sent 1"]


def test_a_rejected_coalesced_partial_upsert_is_lettered_with_its_newest_record() -> None:
    store = MemoryStore("redis")
    tables = {**TABLES, "rows": ROWS}
    dlq = MemoryDeadLetters()
    replicator = Replicator(tables, store, dlq, FAST)
    whole, partial = whole_then_partial()
    store.reject_ids.add("b")
    asyncio.run(replicator.process(records(whole.to_json(), partial.to_json())))
    [(_, _, value, headers)] = dlq.sent
    assert value == partial.to_json() and dict(headers)["cdc.error.reason"] == b"rejected_by_store"
