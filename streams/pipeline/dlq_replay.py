"""`dlq replay`: send the dead letters that now pass back to the changes topic; and the letters
waiting for it, for `dlq list`.

Consume rule of a replay: a letter is consumed only when it was republished (it passes now) or
explicitly discarded (`--discard REASON`). A letter still invalid is appended again to the
dead-letter topic, with the reason it fails with now, before the replay group commits past its
old place: it waits there for a later replay (after its table is declared, say).

The replay runs the worker's intake (streams/pipeline/intake.py): a fetched batch is handled
whole, then committed, up to the end offsets seen at the start, so the letters it appends again
are left for the next replay. Listing reads the same letters but never commits.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from streams.kafka.clients import Kafka
from streams.kafka.publisher import Publisher
from streams.kafka.records import RawRecord, Record
from streams.kafka.topic_health import check_topic
from streams.kafka.topics import assign_all
from streams.model.errors import InvalidEventError
from streams.model.events import ChangeEvent, decode_event
from streams.model.numbers import counted
from streams.model.tables import TableSpec
from streams.pipeline.debezium import DebeziumDecoder
from streams.pipeline.dlq import (
    HEADER_MESSAGE,
    HEADER_OFFSET,
    HEADER_PARTITION,
    HEADER_REASON,
    HEADER_TOPIC,
    REJECTED_BY_STORE,
)
from streams.pipeline.end_offsets import EndOffsets
from streams.pipeline.intake import BatchIntake
from streams.settings_parts import IntakeSettings, KafkaSettings, TopicSettings, WorkerSettings


@dataclass(frozen=True)
class Letter:
    offset: int
    partition: int
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, str]

    @classmethod
    def of(cls, record: Any) -> "Letter":
        """From a consumed record: aiokafka's carries the headers."""
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        return cls(record.offset, record.partition, record.key, record.value, headers)

    def as_json(self) -> dict[str, Any]:
        return {
            "dlq_partition": self.partition,
            "dlq_offset": self.offset,
            "reason": self.headers.get(HEADER_REASON),
            "message": self.headers.get(HEADER_MESSAGE),
            "origin": {
                "topic": self.headers.get(HEADER_TOPIC),
                "partition": _int(self.headers.get(HEADER_PARTITION)),
                "offset": _int(self.headers.get(HEADER_OFFSET)),
            },
            "value": (self.value or b"").decode(errors="replace")[:500],
        }

    def kept(self, reason: str, message: str) -> tuple[bytes | None, bytes | None, list[Any]]:
        """Key, value and headers to append it again: the same letter, failing for `reason`."""
        headers = dict(self.headers) | {HEADER_REASON: reason, HEADER_MESSAGE: message[:2000]}
        return self.key, self.value, [(k, v.encode()) for k, v in headers.items()]


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def replay_group(worker: WorkerSettings) -> str:
    return f"{worker.group_id}-dlq-replay"


async def read_letters(
    kafka_settings: KafkaSettings, changes: TopicSettings, group: str | None = None
) -> AsyncIterator[Letter]:
    """Every dead letter up to the end at the start (with `group`: those after the group's
    committed offsets, not yet replayed). Never commits: a listing is not a replay, so it reads
    on its own instead of through the intake, which commits every batch it handles."""
    kafka = Kafka.of(kafka_settings)
    consumer = kafka.consumer(
        group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        ends = await assign_all(consumer, kafka, changes.dlq)
        if group is None:
            await consumer.seek_to_beginning(*ends)
        for tp in ends:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=2000)
                for message in batch.get(tp, []):
                    if message.offset < ends[tp]:
                        yield Letter.of(message)
    finally:
        await consumer.stop()


async def list_letters(settings: IntakeSettings, limit: int) -> list[Letter]:
    """The letters waiting for a replay (those a replay consumed are history)."""
    letters = []
    group = replay_group(settings.worker)
    async for letter in read_letters(settings.kafka, settings.changes, group):
        letters.append(letter)
        if len(letters) >= limit:
            break
    return letters


@dataclass
class ReplaySummary:
    read: int = 0
    republished: int = 0
    discarded: int = 0
    still_invalid: int = 0
    seconds: float = 0.0

    def add(self, batch: "ReplaySummary") -> None:
        self.read += batch.read
        self.republished += batch.republished
        self.discarded += batch.discarded
        self.still_invalid += batch.still_invalid

    def describe(self) -> str:
        return (
            f"read {counted(self.read, 'dead letter')}: {self.republished} now pass and were "
            "republished, "
            f"{self.discarded} discarded, {self.still_invalid} still invalid and kept in the "
            "dead-letter topic for a later replay"
        )


async def replay_letters(settings: IntakeSettings, discard: Collection[str] = ()) -> ReplaySummary:
    """Send back to the changes topic each letter that now passes validation; drop those whose
    reason is in `discard`; append the rest to the dead-letter topic again. The replay group
    commits a batch only after the broker holds all three outcomes, so a crash repeats at most
    one batch (republishing is idempotent: the same version is the same event)."""
    # The letters go back to it: say if it is unfit to keep them.
    await check_topic(settings.kafka, settings.changes)
    summary, started = ReplaySummary(), time.monotonic()
    kafka = Kafka.of(settings.kafka)
    changes = settings.changes
    async with Publisher(kafka, changes.name, settings.tables, "dlq-replay") as publisher:
        keeper = kafka.producer(enable_idempotence=True, acks="all")
        await keeper.start()
        try:
            replay = _Replay(changes, settings.tables, discard, publisher, keeper)
            group = replay_group(settings.worker)
            intake = BatchIntake(settings, group, replay.handle, summary.add, topics=[changes.dlq])
            async with intake.opened() as consumer:
                ends = await assign_all(consumer, kafka, changes.dlq)
                await intake.consume(consumer, until=EndOffsets(ends))
        finally:
            await keeper.stop()
    summary.seconds = time.monotonic() - started
    return summary


class _Replay:
    """One fetched batch of letters: republished, kept or discarded, and the broker holds
    every republished and kept one when `handle` returns (the intake commits then)."""

    def __init__(
        self,
        changes: TopicSettings,
        tables: Mapping[str, TableSpec],
        discard: Collection[str],
        publisher: Publisher,
        keeper: AIOKafkaProducer,
    ) -> None:
        self.changes, self.tables = changes, tables
        self.discard = discard
        self.publisher = publisher
        self.keeper = keeper

    async def handle(self, records: list[Record]) -> ReplaySummary:
        batch = ReplaySummary()
        letters = [Letter.of(record) for record in records]
        events, kept = sort_letters(letters, self.tables, self.discard, batch)
        batch.republished += await self.publisher.publish(events, checked=True)
        topic = self.changes.dlq
        sent = [
            await self.keeper.send(topic, value, key=key, headers=headers)
            for key, value, headers in kept
        ]
        await asyncio.gather(*sent)  # the broker holds every kept letter
        return batch


def sort_letters(
    letters: list[Letter],
    tables: Mapping[str, TableSpec],
    discard: Collection[str],
    summary: ReplaySummary,
) -> tuple[list[ChangeEvent], list[tuple[bytes | None, bytes | None, list[Any]]]]:
    """The events to republish and the letters to keep; counts all three outcomes."""
    events, kept = [], []
    debezium = DebeziumDecoder(tables)
    for letter in letters:
        summary.read += 1
        recorded = letter.headers.get(HEADER_REASON)
        try:
            found = decode_letter(letter, tables, debezium)
        except InvalidEventError as exc:
            if exc.reason in discard:
                summary.discarded += 1
            else:
                summary.still_invalid += 1
                kept.append(letter.kept(exc.reason, str(exc)))
            continue
        # A store's refusal cannot be checked again from here: only the recorded reason tells.
        if recorded == REJECTED_BY_STORE and REJECTED_BY_STORE in discard:
            summary.discarded += 1
        else:
            events.extend(found)
    return events, kept


def decode_letter(
    letter: Letter, tables: Mapping[str, TableSpec], debezium: DebeziumDecoder
) -> list[ChangeEvent]:
    """A letter read in its origin topic's format, as the worker read it: a Debezium topic's
    letters are Debezium records (their key names a deleted row; one feeds every table
    declaring its source), any other is cdc-v1."""
    origin = letter.headers.get(HEADER_TOPIC, "")
    if origin not in debezium.topics:
        return [decode_event(letter.value, tables)]
    partition, offset = letter.headers.get(HEADER_PARTITION), letter.headers.get(HEADER_OFFSET)
    record = RawRecord(origin, _int(partition) or 0, _int(offset) or 0, letter.key, letter.value)
    found = debezium.decode(record)
    if found.problems:
        raise found.problems[0][1]
    return [event for event, _ in found.events]
