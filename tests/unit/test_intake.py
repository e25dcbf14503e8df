"""The batch intake's commit rule, with a fake consumer and in-memory stores."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from connectors.store import Batch, WriteOutcome
from streams.kafka.groups import store_group
from streams.model.tables import DEFAULT_TABLES
from streams.pipeline.end_offsets import EndOffsets
from streams.pipeline.intake import BatchIntake, _SettleFirst, run_with
from streams.pipeline.replicator import BatchReport, Replicator
from streams.retry import Backoff
from streams.settings import Settings
from tests.support import MemoryDeadLetters, MemoryStore, delete, upsert

TABLES = dict(DEFAULT_TABLES)
TP = TopicPartition("changes", 0)


@dataclass
class Message:
    offset: int
    value: bytes
    topic: str = "changes"
    partition: int = 0
    key: bytes = b"k"
    timestamp: int = 0


@dataclass
class FakeConsumer:
    """Hands out the given batches, then nothing; remembers what was committed and when."""

    batches: list[list[Message]]
    store: MemoryStore
    commits: list[tuple[int, int]] = field(default_factory=list)  # (offset, items stored then)
    polls: list[bool] = field(default_factory=list)  # per getmany: were the partitions paused?
    paused: set[TopicPartition] = field(default_factory=set)
    handed_out: int = 0  # the position: the offset after the last message handed out

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        self.polls.append(bool(self.paused))
        if self.batches and not self.paused:
            batch = self.batches.pop(0)
            self.handed_out = batch[-1].offset + 1
            return {TP: batch}
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def position(self, tp: TopicPartition) -> int:
        return self.handed_out

    def subscribe(self, topics: list[str], listener: object) -> None:
        self.subscribed = topics

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused |= set(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused -= set(partitions)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append((offsets[TP], len(self.store.items)))


class SlowStore(MemoryStore):
    async def write(self, batch: Batch) -> WriteOutcome:
        await asyncio.sleep(0.05)  # the commit must wait for this
        return await super().write(batch)


class BrokenStore(MemoryStore):
    async def write(self, batch: Batch) -> WriteOutcome:
        raise RuntimeError("a bug, not an outage")


def intake(
    store: MemoryStore,
    dlq: MemoryDeadLetters,
    reports: list[BatchReport],
    consumer: FakeConsumer | None = None,
    **overrides: Any,
) -> BatchIntake[BatchReport]:
    settings = Settings(batch_max_seconds=0.01, **overrides)
    apply = Replicator(TABLES, store, dlq).process
    return BatchIntake(
        settings.intake, "g", apply, reports.append, consumer_factory=lambda *_: consumer
    )


async def consume_until(
    consumer: FakeConsumer, intake: BatchIntake[BatchReport], commits: int
) -> None:
    task = asyncio.ensure_future(intake.consume(consumer))
    for _ in range(300):
        if len(consumer.commits) >= commits or task.done():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_batches_are_applied_dead_lettered_and_then_committed() -> None:
    store, dlq, reports = SlowStore(), MemoryDeadLetters(), list[BatchReport]()
    first, second, gone = upsert("o", "p", 1), upsert("o", "p", 2), delete("o", "q", 5)
    consumer = FakeConsumer(
        [
            [Message(0, second.to_json()), Message(1, b"{oops")],
            [Message(2, first.to_json()), Message(3, gone.to_json())],
        ],
        store,
    )
    asyncio.run(consume_until(consumer, intake(store, dlq, reports), commits=2))
    assert store.items[second.item_id(TABLES["opponents"])] == second
    assert store.items[gone.item_id(TABLES["opponents"])] == gone
    assert dlq.reasons() == ["not_json"]
    # Each commit names the next offset to read, and came after its batch was stored.
    assert consumer.commits == [(2, 1), (4, 2)]
    assert [r.records for r in reports] == [2, 2]


def test_a_replay_stops_by_itself_at_the_end_offsets_seen_at_its_start() -> None:
    """Records past the end are later writes: neither applied nor committed."""
    store, reports = MemoryStore(), list[BatchReport]()
    events = [upsert("o", f"p{n}", 1).to_json() for n in range(5)]
    batches = [[Message(0, events[0]), Message(1, events[1])], [Message(2, events[2]),
               Message(3, events[3])], [Message(4, events[4])]]  # fmt: skip
    consumer = FakeConsumer(batches, store)
    replay = intake(store, MemoryDeadLetters(), reports, consumer)

    async def run() -> None:
        async with replay.opened() as opened:
            await asyncio.wait_for(replay.consume(opened, until=EndOffsets({TP: 3})), 5)

    asyncio.run(run())
    assert consumer.commits == [(2, 2), (3, 3)]
    assert [r.records for r in reports] == [2, 1] and len(store.items) == 3
    assert len(consumer.batches) == 1  # the last batch was never fetched


def test_a_replay_with_nothing_to_read_stops_without_fetching() -> None:
    consumer = FakeConsumer([[Message(0, upsert("o", "p", 1).to_json())]], MemoryStore())
    replay = intake(consumer.store, MemoryDeadLetters(), [], consumer)
    asyncio.run(asyncio.wait_for(replay.consume(consumer, until=EndOffsets({TP: 0})), 5))
    assert consumer.polls == [] and consumer.commits == []


def test_an_unexpected_error_is_fatal_and_commits_nothing() -> None:
    store, fatal = BrokenStore(), []
    consumer = FakeConsumer([[Message(0, upsert("o", "p", 1).to_json())]], store)
    broken = intake(store, MemoryDeadLetters(), [], consumer)

    async def run() -> None:
        async def on_fatal(exc: BaseException) -> None:
            fatal.append(exc)

        await asyncio.wait_for(run_with(broken.run(), on_fatal), 5)

    asyncio.run(run())
    assert [str(e) for e in fatal] == ["a bug, not an outage"]
    assert consumer.commits == []


def test_a_failing_store_pauses_the_partitions_and_polling_goes_on_until_it_answers() -> None:
    """aiokafka drops a member that does not poll for max_poll_interval: while a batch waits
    for its store, the intake pauses the partitions and keeps polling."""
    store = MemoryStore(fail_times=12)  # ~1.5 s of retries with this backoff
    reports: list[BatchReport] = []
    waiting = intake(store, MemoryDeadLetters(), reports, kafka_max_poll_interval_seconds=1)
    waiting.apply = Replicator(TABLES, store, MemoryDeadLetters(), Backoff(0.1, 0.2)).process
    event = upsert("o", "p", 1)
    consumer = FakeConsumer([[Message(0, event.to_json())], [Message(1, event.to_json())]], store)
    asyncio.run(consume_until(consumer, waiting, commits=2))
    assert consumer.commits == [(1, 1), (2, 1)]
    assert store.fail_times == 0 and reports[0].outcomes["memory"].retries == 12
    assert consumer.polls.count(True) >= 10  # polled all along the outage, paused
    assert not consumer.paused  # resumed: the second batch was fetched and committed


def test_a_rebalance_while_paused_gives_the_batch_up_instead_of_waiting_for_the_store() -> None:
    """A revocation that waited for a batch stuck on a failing store would outlast the
    rebalance timeout and drop the member from its group: the batch is given up instead."""
    store = MemoryStore(fail_times=100_000)
    waiting = intake(store, MemoryDeadLetters(), [], kafka_max_poll_interval_seconds=1)
    waiting.apply = Replicator(TABLES, store, MemoryDeadLetters(), Backoff(0.05, 0.05)).process
    consumer = FakeConsumer([[Message(0, upsert("o", "p", 1).to_json())]], store)

    async def run() -> None:
        consuming = asyncio.ensure_future(waiting.consume(consumer))
        for _ in range(200):
            if consumer.paused:
                break
            await asyncio.sleep(0.01)
        assert consumer.paused, "the batch should be waiting, paused"
        await asyncio.wait_for(_SettleFirst(waiting).on_partitions_revoked({TP}), 2)
        assert not consuming.done() and not consumer.paused  # still consuming, resumed
        consuming.cancel()
        await asyncio.gather(consuming, return_exceptions=True)

    asyncio.run(run())
    assert consumer.commits == []  # given up, so never committed


def test_each_store_has_its_own_group() -> None:
    settings = Settings()
    assert store_group(settings.worker, "redis") == "cdc-replicator-redis"
    assert store_group(settings.worker, "dynamodb") == "cdc-replicator-dynamodb"


class RefusingConsumer(FakeConsumer):
    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        raise KafkaError("the coordinator refused the commit")


def test_a_commit_that_fails_stops_the_intake() -> None:
    store, fatal = MemoryStore(), list[BaseException]()
    events = [upsert("o", f"p{i}", 1).to_json() for i in range(3)]
    batches = [[Message(i, value)] for i, value in enumerate(events)]
    consumer = RefusingConsumer(batches, store)
    failing = intake(store, MemoryDeadLetters(), [], consumer)

    async def run() -> None:
        async def on_fatal(exc: BaseException) -> None:
            fatal.append(exc)

        await asyncio.wait_for(run_with(failing.consume(consumer), on_fatal), 5)

    asyncio.run(run())
    assert [type(e) for e in fatal] == [KafkaError]  # not dropped, not retried for ever
    assert len(store.items) >= 2  # the first commit failed while a later batch was applied


def test_batches_applied_within_the_commit_interval_share_one_commit() -> None:
    store = MemoryStore()
    batches = [[Message(i, upsert("o", f"p{i}", 1).to_json())] for i in range(3)]
    consumer = FakeConsumer(batches, store)
    asyncio.run(consume_until(consumer, intake(store, MemoryDeadLetters(), []), commits=2))
    # The first at once; the next two, applied within 0.5 s of it, in one commit after it.
    assert consumer.commits == [(1, 1), (3, 3)]
