"""Consume the changes topic a fetched batch at a time, and commit only what both stores hold.

Faust's stream delivery costs tens of microseconds per event (two tasks per message in its
drain loop, an Event and a queue hop each): a Faust agent that does nothing at all tops out near
6,000 events/s on a 2-core machine, below a Quix Streams pipeline that writes to Redis. So the
worker reads with aiokafka's `getmany` inside the Faust app, and each fetched batch goes through
the `Replicator` whole; Faust keeps the worker's lifecycle, signals, web views and producer.

Commit rule: a batch's offsets are committed after `Replicator.process` returned for it, which is
after both stores hold it and its dead letters are acknowledged. A rebalance waits for the batch
in flight to be written and committed, so partitions move with their offsets committed. A
batch cut short by a stop is never committed; it is consumed again, and LWW makes that harmless.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from streams.errors import AccessRefusedError
from streams.kafka import Kafka
from streams.replicator import BatchReport, Replicator
from streams.settings import Settings

log = logging.getLogger(__name__)
STOP_COMMIT_SECONDS = 5.0

OnBatch = Callable[[BatchReport], None]
Fetched = dict[TopicPartition, list[Any]]
OnFatal = Callable[[BaseException], Awaitable[None]]


class _SettleFirst(ConsumerRebalanceListener):
    """Partitions are given up only between batches, with the last one committed."""

    def __init__(self, intake: "BatchIntake") -> None:
        self.intake = intake

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.intake.in_flight:
            await self.intake.settle()
        log.info("giving up %d partitions", len(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("assigned %d partitions", len(assigned))


class BatchIntake:
    def __init__(
        self, settings: Settings, group_id: str, replicator: Replicator, on_batch: OnBatch
    ) -> None:
        self.settings = settings
        self.group_id = group_id
        self.replicator = replicator
        self.on_batch = on_batch
        self.in_flight = asyncio.Lock()  # held while a batch is written
        self._committing: asyncio.Future[None] | None = None  # the last batch's commit

    def _consumer(self) -> AIOKafkaConsumer:
        s = self.settings
        consumer = Kafka.of(s).consumer(
            group_id=self.group_id,
            client_id=f"cdc-replicator-{self.group_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.batch_max_events,
            session_timeout_ms=int(s.kafka_session_timeout_seconds * 1000),
            heartbeat_interval_ms=int(s.kafka_session_timeout_seconds * 100),
        )
        consumer.subscribe([s.topic], listener=_SettleFirst(self))
        return consumer

    async def run(self) -> None:
        consumer = self._consumer()
        await consumer.start()
        try:
            await self._consume(consumer)
        finally:
            # The last applied batch's commit may still be travelling: let it land.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.settle(), STOP_COMMIT_SECONDS)
            await consumer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        """The next batch is fetched, and the last one committed, while this one is written
        (the worker is CPU-bound; those are the waits worth hiding). Commits stay in order."""
        fetch = self._fetch(consumer)
        try:
            while True:
                fetched = await fetch
                fetch = self._fetch(consumer)
                if fetched:
                    records = [m for messages in fetched.values() for m in messages]
                    async with self.in_flight:
                        self.on_batch(await self.replicator.process(records))
                        await self.settle()
                        offsets = {tp: ms[-1].offset + 1 for tp, ms in fetched.items()}
                        self._committing = asyncio.ensure_future(_commit(consumer, offsets))
        finally:
            fetch.cancel()

    def _fetch(self, consumer: AIOKafkaConsumer) -> "asyncio.Future[Fetched]":
        timeout_ms = int(self.settings.batch_max_seconds * 1000)
        size = self.settings.batch_max_events
        return asyncio.ensure_future(consumer.getmany(timeout_ms=timeout_ms, max_records=size))

    async def settle(self) -> None:
        """Wait until the last batch's commit is done."""
        if self._committing is not None:
            await asyncio.shield(self._committing)


async def _commit(consumer: AIOKafkaConsumer, offsets: Mapping[TopicPartition, int]) -> None:
    """Commit; if the partitions moved meanwhile, their new owner applies the batch again."""
    try:
        await consumer.commit(dict(offsets))
    except (CommitFailedError, IllegalStateError) as exc:
        log.warning("batch applied but not committed (%s); it will be applied again", exc)


async def run_with(intake: BatchIntake, on_fatal: OnFatal) -> None:
    """Run until cancelled; an unexpected error stops the worker rather than leaving it idle."""
    try:
        await intake.run()
    except asyncio.CancelledError:
        raise
    except AccessRefusedError as exc:  # an operator's matter: one line, then stop
        log.critical("replication stopped: %s; nothing was committed past it", exc)
        await on_fatal(exc)
    except Exception as exc:  # noqa: BLE001 - any bug must stop the worker, loudly
        log.critical("replication stopped by an unexpected error; nothing was committed past it")
        await on_fatal(exc)
