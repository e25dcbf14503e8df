"""Replay the changes topic into one store, from the beginning or from a point in time.

The replay runs in a fresh consumer group (so its progress shows in `lag`), stops by itself at
the end offsets taken when it started, and goes through the worker's intake and Replicator:
every write is version-guarded, so rebuilding into a live store is safe.

It refuses to run on a topic that has lost history (its log no longer starts at offset 0, see
streams.kafka.topic_health), unless told a partial rebuild is wanted, and it never reports success
having read nothing from a range the end offsets say holds records.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.store import StoreWrites
from streams.kafka.clients import Kafka
from streams.kafka.topic_health import lost_history
from streams.kafka.topics import assign_all
from streams.model.errors import ReplicatorError
from streams.pipeline.dlq import DeadLetterTopic, Headers
from streams.pipeline.end_offsets import EndOffsets
from streams.pipeline.intake import BatchIntake
from streams.pipeline.replicator import BatchReport, Replicator
from streams.retry import Backoff
from streams.settings_parts import IntakeSettings
from streams.stores import store_kind


class PartialHistoryError(ReplicatorError):
    """The topic no longer holds the whole history a rebuild needs."""


@dataclass
class RebuildSummary:
    group: str
    records: int = 0
    applied: int = 0
    stale: int = 0
    refused: int = 0  # writes the store refuses (a key another item owns, an item too large)
    invalid: int = 0  # already dead-lettered by the worker when it first saw them
    seconds: float = 0.0
    targets: dict[int, int] = field(default_factory=dict)  # partition -> end offset at start

    @property
    def superseded(self) -> int:
        """Records a later record of the same item replaced within one batch: never written."""
        return max(self.records - self.applied - self.stale - self.refused - self.invalid, 0)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


async def _not_again(topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
    """A rebuild does not dead-letter twice what the worker dead-lettered already."""


async def rebuild(
    settings: IntakeSettings,
    store: StoreWrites,
    *,
    from_time: datetime | None = None,
    on_progress: Callable[[int, float], None] | None = None,
    allow_partial: bool = False,
) -> RebuildSummary:
    """Replay through the worker's intake, in a group of its own, up to the end offsets."""
    topic, worker = settings.changes.name, settings.worker
    group = f"{worker.group_id}-rebuild-{store.name}-{int(time.time())}"
    summary = RebuildSummary(group)
    replicator = Replicator(
        settings.tables,
        store,
        DeadLetterTopic(settings.changes.dlq, _not_again),
        Backoff(maximum=worker.retry_max_backoff_seconds),
    )
    started = time.monotonic()

    def on_batch(report: BatchReport) -> None:
        _count(report, store.name, summary)
        summary.seconds = time.monotonic() - started
        if on_progress:
            on_progress(summary.records, summary.rate)

    intake = BatchIntake(settings, group, replicator.process, on_batch, topics=[topic])
    async with intake.opened() as consumer:
        ends = await _assign(consumer, Kafka.of(settings.kafka), topic, from_time, summary)
        starts = {tp.partition: await consumer.position(tp) for tp in ends}
        if not allow_partial:
            await _refuse_lost_history(consumer, list(ends), starts, store.name, topic)
        # Offsets, not records (compaction leaves gaps): only "some but none read" is checkable.
        expected = sum(max(summary.targets[p] - start, 0) for p, start in starts.items())
        await intake.consume(consumer, until=EndOffsets(ends))
    summary.seconds = time.monotonic() - started
    if expected and not summary.records:
        raise ReplicatorError(
            f"the end offsets of {topic} promised {expected} offsets to replay but "
            "no record was read; nothing was rebuilt, run it again"
        )
    return summary


async def _refuse_lost_history(
    consumer: AIOKafkaConsumer,
    partitions: Sequence[TopicPartition],
    starts: dict[int, int],
    store: str,
    topic: str,
) -> None:
    earliest = await consumer.beginning_offsets(partitions)
    lost = lost_history({tp.partition: offset for tp, offset in earliest.items()}, starts)
    if not lost:
        return
    where = ", ".join(f"partition {p} starts at offset {n}" for p, n in sorted(lost.items()))
    instead = store_kind(store).refill
    raise PartialHistoryError(
        f"topic {topic} has lost history ({where}, not 0: retention or delete-records removed the "
        f"oldest records), so a rebuild would restore only part of the data; {instead}, or "
        "pass --allow-partial to replay what is left"
    )


async def _assign(
    consumer: AIOKafkaConsumer,
    kafka: Kafka,
    topic: str,
    from_time: datetime | None,
    summary: RebuildSummary,
) -> dict[TopicPartition, int]:
    """Every partition, placed at its start or `from_time`; returns the end offsets now."""
    ends = await assign_all(consumer, kafka, topic)
    partitions = list(ends)
    summary.targets = {tp.partition: ends[tp] for tp in partitions}
    if from_time is None:
        for tp, first in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(tp, first)
        return ends
    found = await consumer.offsets_for_times(
        {tp: int(from_time.timestamp() * 1000) for tp in partitions}
    )
    for tp in partitions:
        offset = found.get(tp)
        consumer.seek(tp, offset.offset if offset else ends[tp])
    return ends


def _count(report: BatchReport, store: str, summary: RebuildSummary) -> None:
    outcome = report.outcomes[store]
    summary.records += report.records
    summary.applied += outcome.applied
    summary.stale += outcome.stale
    summary.refused += len(outcome.rejected)
    summary.invalid += max(len(report.dead_letters) - len(outcome.rejected), 0)
