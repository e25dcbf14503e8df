"""Consume the changes topic a fetched batch at a time, and commit only what the store holds.

Faust's stream delivery costs tens of microseconds per event (two tasks per message in its
drain loop, an Event and a queue hop each): a Faust agent reading the topic tops out near 6,000
events/s on a 2-core machine. So each store's intake reads with aiokafka's `getmany` and hands
every fetched batch, whole, to that store's Faust agent (streams/worker/agents.py): Faust's cost
is paid once per batch, not per record.

Commit rule: a batch's offsets are committed after the agent finished it, which is after the
store holds it and its dead letters are acknowledged; at most twice a second
(streams/pipeline/commits.py), and always before partitions are given up or the consumer
stops. A rebalance waits for the batch in flight
to be written and committed, so partitions move with their offsets committed. A batch cut short
by a stop is never committed; it is consumed again, and LWW makes that harmless.

One loop for every reader of a topic: the worker consumes its group's partitions for ever;
a replay (`rebuild`, `dlq replay`) places the consumer itself and consumes until the end
offsets it saw at its start (streams/pipeline/end_offsets.py).

Long outages: a member that does not poll for `CDC_KAFKA_MAX_POLL_INTERVAL_SECONDS` leaves its
group. While a batch waits for a failing store, its partitions are paused and the intake keeps
polling (as Kafka Connect does with retriable errors); they resume once the store answers.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from streams.kafka.clients import Kafka
from streams.kafka.missing_topics import MISSING_TOPICS, watch_missing_topics
from streams.kafka.records import Record
from streams.model.errors import OperatorError
from streams.model.tables import feed_topics
from streams.pipeline.commits import Commits
from streams.pipeline.end_offsets import EndOffsets, Fetched
from streams.pipeline.replicator import BatchReport
from streams.settings_parts import IntakeSettings, KafkaSettings, WorkerSettings

log = logging.getLogger(__name__)
STOP_COMMIT_SECONDS = 5.0
PAUSE_AFTER_SECONDS = 10.0  # a batch in flight this long: its store is failing, or very slow
# A Debezium topic may be created (by Connect) after the worker started: the consumer sees a
# new topic only when it refreshes its metadata, every 5 minutes by default.
NEW_TOPIC_SECONDS = 10

Report = TypeVar("Report")  # what applying a batch returns: the worker's is a BatchReport
ApplyBatch = Callable[[list[Record]], Awaitable[Report]]
OnBatch = Callable[[BatchReport], None]
ConsumerFactory = Callable[[KafkaSettings, WorkerSettings, str, Sequence[str]], AIOKafkaConsumer]
OnFatal = Callable[[BaseException], Awaitable[None]]
OnAssignment = Callable[[set[TopicPartition]], None]  # the partitions this member now owns


class _SettleFirst(ConsumerRebalanceListener):
    """Partitions are given up only between batches, with the last one committed; a Debezium
    topic's partitions are taken up one record before their committed offset."""

    def __init__(
        self, intake: "BatchIntake[Any]", consumer: AIOKafkaConsumer | None = None
    ) -> None:
        self.intake = intake
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # A batch waiting out a store's outage is given up, not waited for: waiting past the
        # rebalance timeout would drop this member from the group until the store answers.
        self.intake.give_up_paused_batch()
        async with self.intake.in_flight:
            await self.intake.settle()
        log.info("giving up %d partitions", len(revoked))
        self.intake.on_assignment(set())

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("assigned %d partitions", len(assigned))
        MISSING_TOPICS.appeared(tp.topic for tp in assigned)
        if self.consumer is not None:
            await _rewind_one(
                self.consumer, [tp for tp in assigned if tp.topic in self.intake.rewound]
            )
        self.intake.on_assignment(set(assigned))


async def _rewind_one(consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
    """Read each partition again from the record before its committed offset. The Debezium
    decoder reads a record by the one before it (a tombstone right after its own delete, a
    change right after the snapshot's reads) and keeps that in memory only: a restart or a
    rebalance between the two would otherwise lose it. Applying that record again changes
    nothing (last-writer-wins); only a malformed one is dead-lettered again."""
    for tp in partitions:
        committed = await consumer.committed(tp)
        if committed:
            consumer.seek(tp, committed - 1)


def batch_consumer(
    kafka: KafkaSettings, worker: WorkerSettings, group_id: str, topics: Sequence[str]
) -> AIOKafkaConsumer:
    """The intake's real consumer: committed by hand, a batch at most per poll."""
    refresh = {"metadata_max_age_ms": NEW_TOPIC_SECONDS * 1000} if len(topics) > 1 else {}
    watch_missing_topics()  # a topic not created yet: one warning, not an error every refresh
    return Kafka.of(kafka).consumer(
        group_id=group_id,
        client_id=f"cdc-replicator-{group_id}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=worker.batch_max_events,
        session_timeout_ms=int(kafka.session_timeout_seconds * 1000),
        heartbeat_interval_ms=int(kafka.session_timeout_seconds * 100),
        max_poll_interval_ms=int(kafka.max_poll_interval_seconds * 1000),
        **refresh,
    )


class BatchIntake(Generic[Report]):
    def __init__(
        self,
        settings: IntakeSettings,
        group_id: str,
        apply: ApplyBatch[Report],
        on_batch: Callable[[Report], None],
        on_assignment: OnAssignment | None = None,
        *,
        topics: Sequence[str] | None = None,  # default: the changes topic and the Debezium ones
        consumer_factory: ConsumerFactory = batch_consumer,
    ) -> None:
        self.kafka, self.worker = settings.kafka, settings.worker
        self.group_id = group_id
        self.apply = apply
        self.on_batch = on_batch
        self.on_assignment = on_assignment or (lambda partitions: None)
        tables, topic = settings.tables, settings.changes.name
        self.topics = list(topics or feed_topics(tables, topic))
        self.consumer_factory = consumer_factory
        # The topics read by the record before (Debezium's): see _rewind_one.
        self.rewound = frozenset(
            spec.feed_topic(topic) for spec in tables.values() if spec.format == "debezium"
        )
        self.in_flight = asyncio.Lock()  # held while a batch is written
        self.commits = Commits()
        self._fetching: asyncio.Future[Fetched] | None = None  # the next batch, or a keep-alive
        self._give_up: asyncio.Event | None = None  # set while a batch waits, paused
        self.pause_after = min(PAUSE_AFTER_SECONDS, self.kafka.max_poll_interval_seconds / 4)

    async def run(self) -> None:
        """The worker's loop: the group's partitions, for ever."""
        async with self.opened() as consumer:
            # Subscribed once started: a consumer subscribed before its start fails when a
            # topic does not exist yet (a Debezium topic Connect has not created); this way
            # it is read once it exists.
            consumer.subscribe(self.topics, listener=_SettleFirst(self, consumer))
            await self.consume(consumer)

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[AIOKafkaConsumer]:
        """A started consumer, for the caller to subscribe or assign, then `consume`."""
        consumer = self.consumer_factory(self.kafka, self.worker, self.group_id, self.topics)
        await consumer.start()
        try:
            yield consumer
        finally:
            # The last applied batch's commit may still be travelling: let it land.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.settle(), STOP_COMMIT_SECONDS)
            await consumer.stop()

    async def consume(self, consumer: AIOKafkaConsumer, until: EndOffsets | None = None) -> None:
        """Apply and commit batch after batch: for ever, or until the end offsets `until`.

        The next batch is fetched, and the last one committed, while this one is written
        (the worker is CPU-bound; those are the waits worth hiding). Commits stay in order."""
        self.commits.consumer = consumer
        if until is not None and await until.reached(consumer):
            return
        self._fetching = self._fetch(consumer)
        try:
            while self._fetching is not None:
                fetched = await self._fetching
                last = until is not None and await until.reached(consumer)
                if until is not None:
                    fetched = until.cut(fetched)  # what lies past the end is not this replay's
                self._fetching = None if last else self._fetch(consumer)
                if fetched:
                    await self._apply_and_commit(consumer, fetched)
                if last:
                    await self.settle()  # a replay ends once its last commit landed
                    return
        finally:
            if self._fetching is not None:
                self._fetching.cancel()

    async def _apply_and_commit(self, consumer: AIOKafkaConsumer, fetched: Fetched) -> None:
        records = [m for messages in fetched.values() for m in messages]
        async with self.in_flight:
            report = await self._applied(consumer, records)
            if report is None:
                log.warning("%s: batch given up at a rebalance, not committed; it is "
                            "applied again", self.group_id)  # fmt: skip
                return
            self.on_batch(report)
            self.commits.owe(_committable(fetched, report))

    async def _applied(self, consumer: AIOKafkaConsumer, records: list[Record]) -> Report | None:
        """The batch's report, or None when a rebalance gave it up while its store failed.

        Giving up cancels only the wait: the store's agent still applies the batch, before any
        later one (one agent per store, fed in order), so a later commit never skips it."""
        applying = asyncio.ensure_future(self.apply(records))
        try:
            await asyncio.wait({applying}, timeout=self.pause_after)
            if not applying.done():
                await self._poll_paused_until(consumer, applying)
            return applying.result() if applying.done() else None
        finally:
            applying.cancel()  # no-op once done: given up, or the worker is stopping

    async def _poll_paused_until(
        self, consumer: AIOKafkaConsumer, applying: "asyncio.Future[Report]"
    ) -> None:
        """Stay in the group while the store fails: pause every partition, keep polling (what
        a poll returns is kept for the next batch, in order), resume once the batch is done."""
        paused = consumer.assignment()
        consumer.pause(*paused)
        self._give_up = asyncio.Event()
        giving_up = asyncio.ensure_future(self._give_up.wait())
        log.warning(
            "%s: batch not applied after %.0fs; %d partitions paused until the store answers",
            self.group_id, self.pause_after, len(paused),
        )  # fmt: skip
        try:
            while not applying.done() and not giving_up.done():
                held = await (self._fetching or self._fetch(consumer))
                self._fetching = asyncio.ensure_future(_merged(held, self._fetch(consumer)))
                either: set[asyncio.Future[Any]] = {applying, self._fetching, giving_up}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            giving_up.cancel()
            self._give_up = None
            consumer.resume(*(paused & consumer.assignment()))
            if applying.done():  # not when the worker stops
                log.info("%s: store answers again; partitions resumed", self.group_id)

    def give_up_paused_batch(self) -> None:
        if self._give_up is not None:
            self._give_up.set()

    def _fetch(self, consumer: AIOKafkaConsumer) -> "asyncio.Future[Fetched]":
        timeout_ms = int(self.worker.batch_max_seconds * 1000)
        size = self.worker.batch_max_events
        return asyncio.ensure_future(consumer.getmany(timeout_ms=timeout_ms, max_records=size))

    async def settle(self) -> None:
        """Commit what is owed now and wait until that commit is done."""
        await self.commits.settle()


def _committable(fetched: Fetched, report: object) -> dict[TopicPartition, int]:
    """Each partition's offset after its batch, or before a record the store does not hold
    yet (a Debezium tombstone waiting for the record after it: BatchReport.held_back)."""
    held = report.held_back if isinstance(report, BatchReport) else {}
    return {
        tp: min(ms[-1].offset + 1, held.get((tp.topic, tp.partition), ms[-1].offset + 1))
        for tp, ms in fetched.items()
    }


async def _merged(held: Fetched, polled: Awaitable[Fetched]) -> Fetched:
    """What was fetched before, then what a keep-alive poll brought (normally nothing)."""
    fetched = dict(held)
    for tp, messages in (await polled).items():
        fetched[tp] = [*fetched.get(tp, []), *messages]
    return fetched


async def run_with(feeding: Awaitable[None], on_fatal: OnFatal) -> None:
    """Run a store's feed until cancelled; refused credentials or an unexpected error stop the
    worker rather than leaving it idle."""
    try:
        await feeding
    except asyncio.CancelledError:
        raise
    except OperatorError as exc:  # refused access, a table without its index: one line, stop
        log.critical("replication stopped: %s; nothing was committed past it", exc)
        await on_fatal(exc)
    except Exception as exc:  # noqa: BLE001 - any bug must stop the worker, loudly
        log.critical("replication stopped by an unexpected error; nothing was committed past it")
        await on_fatal(exc)
