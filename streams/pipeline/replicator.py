"""One consumed batch, from raw records to stores, in the order that makes commits safe.

Commit order (the intake commits a batch's offsets only after `process` returns for it), steps
1 to 3 a part of the batch at a time where the store asks for parts (Redis: `part_records`), so
it applies one part while the next is decoded:
  1. decode: every record becomes valid `ChangeEvent`s (one; a Debezium record one per table
     declaring its source) or a dead letter with its reason; a Kafka tombstone (no value) is
     skipped and counted (it only tells compaction to drop a key), except on a Debezium topic
     where its delete record is gone: there it is that delete, placed by the next record of
     its partition, and its offset is not committed until then (streams/pipeline/debezium.py);
  2. coalesce: per item only the greatest version is kept, the one write that matters (a
     partial upsert joined with what the older writes of its item carried); a part holding a
     partial upsert waits for the parts before it, so that no write of its item is in flight
     while a store merges it with what it holds;
  3. write: the winners go to every store at once; each store retries its transient failures
     with backoff until all are applied, stale or rejected (stopping the worker cancels here:
     nothing is committed, the batch is consumed again after restart, and LWW makes that harmless);
  4. dead-letter: malformed records, and writes a store rejected as invalid, are published to
     `<topic>.dlq`, and the broker has acknowledged them;
  5. return: the intake commits the batch's offsets (streams/pipeline/intake.py).
"""

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from connectors.store import Store, WriteOutcome
from streams.kafka.records import Record
from streams.model.errors import InvalidEventError
from streams.model.events import ChangeEvent, ItemId, decode_event
from streams.model.numbers import counted
from streams.model.tables import TableSpec
from streams.pipeline.apply import OnRetry, write_until_done
from streams.pipeline.debezium import DebeziumDecoder, Decoded
from streams.pipeline.dlq import REJECTED_BY_STORE, DeadLetter, DeadLetterTopic
from streams.pipeline.lww import coalesce
from streams.retry import Backoff

log = logging.getLogger(__name__)


@dataclass
class BatchReport:
    records: int
    items: int
    outcomes: dict[str, WriteOutcome] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    tombstones: int = 0  # null-value records skipped (counted by the agent that dead-letters)
    # (topic, partition) -> the offset to commit at most: a record there is not applied yet
    held_back: dict[tuple[str, int], int] = field(default_factory=dict)


class Replicator:
    def __init__(
        self,
        tables: Mapping[str, TableSpec],
        stores: Sequence[Store],
        dead_letters: DeadLetterTopic,
        backoff: Backoff | None = None,
        on_retry: OnRetry | None = None,
        *,
        owns_invalid: bool = True,
    ) -> None:
        self.tables = dict(tables)
        self.debezium = DebeziumDecoder(self.tables)  # of the topics debezium tables name
        # With one agent per store, one of them dead-letters malformed records
        # (streams/worker/agents.py).
        self.owns_invalid = owns_invalid
        self.stores = list(stores)
        # In parts only where every store asks for the same parts (the store's policy).
        sizes = {store.part_records for store in stores}
        self.part_records = sizes.pop() if len(sizes) == 1 else 0
        self.dead_letters = dead_letters
        self.backoff = backoff or Backoff()
        self.on_retry = on_retry

    async def process(self, records: Sequence[Record]) -> BatchReport:
        """Decode, write and dead-letter a batch, a part at a time: each part's writes go out
        before the next part is decoded, so the stores work while the worker does."""
        parts: list[asyncio.Future[BatchReport]] = []
        try:
            size = self.part_records or len(records) or 1
            for start in range(0, len(records), size):
                part = records[start : start + size]
                parts.append(asyncio.ensure_future(self._written(part, list(parts))))
                await asyncio.sleep(0)  # the part runs until its requests are sent
            done = await asyncio.gather(*parts)
        except BaseException:
            for part_task in parts:  # stopping, or a part failed: abandon the rest
                part_task.cancel()
            raise
        report = _merged(done, len(records), [store.name for store in self.stores])
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
        results = await asyncio.gather(
            *(
                write_until_done(store, winners, self.backoff, self.on_retry)
                for store in self.stores
            )
        )
        report.outcomes = {
            store.name: result for store, result in zip(self.stores, results, strict=True)
        }
        letters.extend(_rejected(results, decoded))
        report.dead_letters = letters
        return report

    def decode(
        self, records: Sequence[Record]
    ) -> tuple[list[tuple[ChangeEvent, Record]], list[DeadLetter], int]:
        """Valid events with their records, dead letters, and how many tombstones were skipped."""
        decoded: list[tuple[ChangeEvent, Record]] = []
        letters: list[DeadLetter] = []
        tombstones = 0
        debezium = self.debezium
        debezium_topics = debezium.topics  # one set lookup a record; cdc-v1 for other topics
        for record in records:
            if record.topic in debezium_topics:
                tombstones += _taken(debezium.decode(record), decoded, letters)
                continue
            raw = record.value
            if raw is None:  # a Kafka tombstone on the changes topic: our deletes are events
                tombstones += 1
                continue
            try:
                event = decode_event(raw, self.tables)
            except InvalidEventError as exc:
                letters.append(DeadLetter(record, exc.reason, str(exc)))
            else:
                decoded.append((event, record))
        return decoded, letters, tombstones


def _taken(
    found: Decoded, decoded: list[tuple[ChangeEvent, Record]], letters: list[DeadLetter]
) -> int:
    """`found`'s events and letters added to the batch's; the tombstones it skipped."""
    decoded += found.events
    if found.problems:
        letters += [DeadLetter(record, exc.reason, str(exc)) for record, exc in found.problems]
    return found.skipped_tombstones


def _merged(parts: Sequence[BatchReport], records: int, stores: Sequence[str]) -> BatchReport:
    """One report for the batch: its parts' counts added up, per store."""
    report = BatchReport(records=records, items=0)
    report.outcomes = {name: WriteOutcome() for name in stores}
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
    results: Sequence[WriteOutcome], decoded: Sequence[tuple[ChangeEvent, Record]]
) -> list[DeadLetter]:
    """A write either store refused as invalid, once per record even if both stores (or both
    tables it feeds) refused it."""
    if not any(result.rejected for result in results):
        return []  # the common case: no record to look up
    record_of = {id(event): record for event, record in decoded}
    # A coalesced partial upsert is a new event: it stands for its newest write's record.
    by_version = {(event.table, event.version): record for event, record in decoded}
    letters: dict[int, DeadLetter] = {}
    for result in results:
        for event, message in result.rejected:
            record = record_of.get(id(event)) or by_version[event.table, event.version]
            reason = result.reasons.get(id(event), REJECTED_BY_STORE)
            letters.setdefault(id(record), DeadLetter(record, reason, message))
    return list(letters.values())
