"""One consumed batch, from raw records to stores, in the order that makes commits safe.

Commit order (the intake commits a batch's offsets only after `process` returns for it), steps
1 to 3 a part of the batch at a time where the store asks for parts (Redis: `part_records`), so
it applies one part while the next is decoded:
  1. decode: every record becomes valid `ChangeEvent`s (one; a Debezium record one per table
     declaring its source) or a dead letter with its reason; a Kafka tombstone (no value) is
     skipped and counted (it only tells compaction to drop a key), except on a Debezium topic
     where its delete record is gone: there it is that delete, placed by the next record of
     its partition, and its offset is not committed until then (a `Decoder` per topic:
     streams/pipeline/decoders.py, streams/pipeline/debezium.py);
  2. coalesce: per item only the greatest version is kept, the one write that matters (a
     partial upsert joined with what the older writes of its item carried); a part holding a
     partial upsert waits for the parts before it, so that no write of its item is in flight
     while a store merges it with what it holds;
  3. write: the winners go to the store (`write_until_done`), which retries its transient
     failures with backoff until all are applied, stale or rejected (stopping the worker cancels
     here: nothing is committed, the batch is consumed again after restart, and LWW makes that
     harmless);
  4. dead-letter: malformed records, and writes a store rejected as invalid, are published to
     `<topic>.dlq`, and the broker has acknowledged them;
  5. return: the intake commits the batch's offsets (streams/pipeline/intake.py).
"""

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from connectors.store import Batch, StoreWrites, WriteOutcome
from streams.kafka.records import Record
from streams.model.events import ChangeEvent, ItemId
from streams.model.numbers import counted
from streams.model.tables import TableSpec
from streams.pipeline.debezium import DebeziumDecoder
from streams.pipeline.decoders import CdcDecoder, Decoded, Decoder
from streams.pipeline.dlq import REJECTED_BY_STORE, DeadLetter, DeadLetterTopic
from streams.pipeline.lww import coalesce
from streams.retry import Backoff

log = logging.getLogger(__name__)
OnRetry = Callable[[str], None]  # called with the store's name at every retry, as it happens


@dataclass
class BatchReport:
    records: int
    items: int
    outcomes: dict[str, WriteOutcome] = field(default_factory=dict)  # the store's, by its name
    dead_letters: list[DeadLetter] = field(default_factory=list)
    tombstones: int = 0  # null-value records skipped (counted by the agent that dead-letters)
    # (topic, partition) -> the offset to commit at most: a record there is not applied yet
    held_back: dict[tuple[str, int], int] = field(default_factory=dict)


class Replicator:
    """One store's way through each consumed batch (the worker runs one per store, each in its
    own group: streams/worker/app.py)."""

    def __init__(
        self,
        tables: Mapping[str, TableSpec],
        store: StoreWrites,
        dead_letters: DeadLetterTopic,
        backoff: Backoff | None = None,
        on_retry: OnRetry | None = None,
        *,
        owns_invalid: bool = True,
    ) -> None:
        self.tables = dict(tables)
        self.debezium = DebeziumDecoder(self.tables)  # of the topics debezium tables name
        self.cdc = CdcDecoder(self.tables)  # of every other topic (the changes topic)
        # With one agent per store, one of them dead-letters malformed records
        # (streams/worker/agents.py).
        self.owns_invalid = owns_invalid
        self.store = store
        self.dead_letters = dead_letters
        self.backoff = backoff or Backoff()
        self.on_retry = on_retry

    async def process(self, records: Sequence[Record]) -> BatchReport:
        """Decode, write and dead-letter a batch, a part at a time: each part's writes go out
        before the next part is decoded, so the stores work while the worker does."""
        parts: list[asyncio.Future[BatchReport]] = []
        try:
            size = self.store.part_records or len(records) or 1
            for start in range(0, len(records), size):
                part = records[start : start + size]
                parts.append(asyncio.ensure_future(self._written(part, list(parts))))
                await asyncio.sleep(0)  # the part runs until its requests are sent
            done = await asyncio.gather(*parts)
        except BaseException:
            for part_task in parts:  # stopping, or a part failed: abandon the rest
                part_task.cancel()
            raise
        report = _merged(done, len(records), self.store.name)
        for store, outcome in report.outcomes.items():
            if outcome.holes:
                _warn_holes(store, outcome.holes)
        if self.debezium.waiting:
            report.held_back = self.debezium.held_back()
        await self.dead_letters.send(report.dead_letters)
        return report

    async def _written(
        self, records: Sequence[Record], earlier: Sequence["asyncio.Future[BatchReport]"] = ()
    ) -> BatchReport:
        """One part in the stores; its dead letters are returned, not sent yet. A store merges
        a partial upsert with what it holds: only once the `earlier` parts' writes settled."""
        decoded, letters, tombstones = self.decode(records)
        if not self.owns_invalid:
            letters, tombstones = [], 0
        winners = coalesce((event for event, _ in decoded), self.tables)
        if earlier and any(event.unchanged is not None for event in winners.values()):
            await asyncio.wait(earlier)  # their failures are raised where they are gathered
        report = BatchReport(records=len(records), items=len(winners), tombstones=tombstones)
        result = await write_until_done(self.store, winners, self.backoff, self.on_retry)
        report.outcomes = {self.store.name: result}
        letters.extend(_rejected(result, decoded))
        report.dead_letters = letters
        return report

    def decode(
        self, records: Sequence[Record]
    ) -> tuple[list[tuple[ChangeEvent, Record]], list[DeadLetter], int]:
        """Valid events with their records, dead letters, and how many tombstones were skipped."""
        found = Decoded()
        debezium: Decoder = self.debezium
        cdc: Decoder = self.cdc
        debezium_topics = self.debezium.topics  # one set lookup a record
        for record in records:
            (debezium if record.topic in debezium_topics else cdc).decode_into(record, found)
        letters = [DeadLetter(record, exc.reason, str(exc)) for record, exc in found.problems]
        return found.events, letters, found.skipped_tombstones


async def write_until_done(
    store: StoreWrites, batch: Batch, backoff: Backoff, on_retry: OnRetry | None = None
) -> WriteOutcome:
    """Every write in `batch` ends applied, stale or rejected; none is left behind.

    Only the writes that met a transient failure are tried again, so a store that is down
    for a minute costs retries, not data. Cancellation (worker stopping) abandons the batch.
    """
    started = time.monotonic()
    done = WriteOutcome()
    pending = batch
    delays = backoff.delays()
    attempt = 0
    while pending:
        outcome = await store.write(pending)
        done.add_done(outcome)
        pending = outcome.retry
        if pending:
            attempt += 1
            delay = next(delays)
            log.warning(
                "%s: %d writes failed transiently (%r); attempt %d, retrying in %.2fs",
                store.name, len(pending), outcome.cause, attempt, delay,
            )  # fmt: skip
            if on_retry is not None:
                on_retry(store.name)  # a store down for an hour shows at once, not after
            await asyncio.sleep(delay)
    done.retries = attempt
    done.seconds = time.monotonic() - started
    return done


def _merged(parts: Sequence[BatchReport], records: int, store: str) -> BatchReport:
    """One report for the batch: its parts' counts added up."""
    report = BatchReport(records=records, items=0)
    report.outcomes = {store: WriteOutcome()}
    for part in parts:
        report.items += part.items
        report.tombstones += part.tombstones
        report.dead_letters.extend(part.dead_letters)
        for name, outcome in part.outcomes.items():
            whole = report.outcomes[name]
            whole.add_done(outcome)
            whole.retries += outcome.retries
            whole.seconds = max(whole.seconds, outcome.seconds)
    return report


def _warn_holes(store: str, holes: Mapping[ItemId, list[str]]) -> None:
    """Items left without a value the source did not send: named, with the command that
    fills them from the table."""
    item, names = next(iter(holes.items()))
    log.warning(
        "%s: %s without a value of attributes the source left unchanged and no earlier write"
        " carried (REPLICA IDENTITY DEFAULT and TOAST), e.g. %s %s; `cdc-replicator verify"
        " --source postgres --table %s --store %s --repair` fills them from the table",
        store, counted(len(holes), "item"), list(item), ", ".join(names), item.table, store,
    )  # fmt: skip


def _rejected(
    result: WriteOutcome, decoded: Sequence[tuple[ChangeEvent, Record]]
) -> list[DeadLetter]:
    """A write the store refused as invalid, once per record even if both tables it feeds
    refused it."""
    if not result.rejected:
        return []  # the common case: no record to look up
    record_of = {id(event): record for event, record in decoded}
    # A coalesced partial upsert is a new event: it stands for its newest write's record.
    by_version = {(event.table, event.version): record for event, record in decoded}
    letters: dict[int, DeadLetter] = {}
    for event, message in result.rejected:
        record = record_of.get(id(event)) or by_version[event.table, event.version]
        reason = result.reasons.get(id(event), REJECTED_BY_STORE)
        letters.setdefault(id(record), DeadLetter(record, reason, message))
    return list(letters.values())
