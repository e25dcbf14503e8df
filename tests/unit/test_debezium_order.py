"""Debezium's records, as Kafka delivers them, converge to the database's final state.

A model database writes a WAL (each change one LSN, each commit one more) and a Debezium that
streams whole transactions in commit order: an earlier connector's stream, then a new
connector's initial snapshot with transactions open across its consistent point, streamed
changes, and an incremental snapshot's window racing them. Its topic (two partitions, keyed by
row) is delivered as consumers see it: each partition in offset order, partitions interleaved,
cut into batches; consumed again from earlier offsets by fresh decoders (restarts); with a
suffix sent twice (a Connect restart); compacted (the cleaner keeps each key's last record,
tombstones included); rebuilt from the beginning. The LWW fold of everything decoded is the
table's final state.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streams.kafka.records import RawRecord
from streams.model.events import ChangeEvent, ItemId
from streams.model.tables import OPPONENTS
from streams.pipeline.debezium import DebeziumDecoder
from tests.support import visible_state
from tests.support.debezium import SOURCE, USERS, decode_one, envelope, record_key

TABLES = {"opponents": OPPONENTS, "users": USERS}
ROWS = (1, 2, 3, 4)
PARTITIONS = 2

Change = tuple[int, str | None]  # row id, new name (None: delete)


@dataclass
class Sent:
    """A record as the connector sends it (`kind` for the test's own bookkeeping)."""

    row: int
    value: bytes | None
    kind: str  # read, first (a change of the first transaction streamed), change, tombstone

    @property
    def partition(self) -> int:
        return self.row % PARTITIONS


@dataclass
class Database:
    """A table, its WAL, and the records a Debezium connector streams from it."""

    rows: dict[int, str] = field(default_factory=dict)
    lsn: int = 1000
    last_commit: int | None = None  # as the streaming connector knows it
    sent: list[Sent] = field(default_factory=list)
    boundaries: list[int] = field(default_factory=list)  # where each streamed transaction starts

    def write(self, changes: list[Change]) -> list[tuple[int, int, str | None]]:
        writes = []
        for row, name in changes:
            self.lsn += 1
            writes.append((self.lsn, row, name))
        return writes

    def commit(self, writes: list[tuple[int, int, str | None]], *, streamed: bool) -> None:
        """Apply a transaction; if streamed, its records go out, each with the last commit
        the connector saw (None: none yet), then the commit's end becomes that."""
        if streamed:
            self.boundaries.append(len(self.sent))
        kind = "first" if self.last_commit is None else "change"
        for lsn, row, name in writes:
            old = self.rows.get(row)
            if name is None and old is not None:
                del self.rows[row]
                value = envelope("d", lsn, before={"id": row}, last_commit=self.last_commit)
                self._send(streamed, Sent(row, value, kind), Sent(row, None, "tombstone"))
            elif name is not None:
                self.rows[row] = name
                op = "u" if old is not None else "c"
                after = {"id": row, "name": name}
                value = envelope(op, lsn, after=after, last_commit=self.last_commit)
                self._send(streamed, Sent(row, value, kind))
        self.lsn += 1  # the commit record; it ends where the next record starts
        if streamed:
            self.last_commit = self.lsn + 1

    def _send(self, streamed: bool, *records: Sent) -> None:
        if streamed:
            self.sent.extend(records)

    def initial_snapshot(self) -> None:
        """A new connector: reads at its consistent point, then a stream with no last commit."""
        at = self.lsn + 1
        for row, name in sorted(self.rows.items()):
            value = envelope("r", at, after={"id": row, "name": name})
            self.sent.append(Sent(row, value, "read"))
        self.last_commit = None
        self.boundaries = []  # a restart of this connector re-sends only its own stream

    def incremental_window(self, chunk: list[int], during: list[list[Change]]) -> None:
        """A window: opened (a signal insert), the chunk read, `during` committed (each a
        change Debezium streams inside the window, dropping those rows from the chunk), then
        closed by an insert whose position the reads carry."""
        self.commit(self.write([]), streamed=True)  # the window-open signal
        read = {row: self.rows.get(row) for row in chunk}
        changed = set()
        for transaction in during:
            self.commit(self.write(transaction), streamed=True)
            changed |= {row for row, _ in transaction}
        self.lsn += 1  # the window-close insert
        sequence = [None if self.last_commit is None else str(self.last_commit), str(self.lsn)]
        for row, name in read.items():
            if row not in changed and name is not None:
                value = envelope("r", None, after={"id": row, "name": name}, incremental=True,
                                 sequence=sequence)  # fmt: skip
                self.sent.append(Sent(row, value, "read"))
        self.lsn += 1  # its commit
        self.last_commit = self.lsn + 1


transactions = st.lists(
    st.lists(
        st.tuples(st.sampled_from(ROWS), st.one_of(st.none(), st.sampled_from("abcdef"))),
        min_size=1,
        max_size=3,
    ),
    max_size=4,
)


@st.composite
def histories(draw: st.DrawFn) -> Database:
    """Transactions before a new connector's snapshot (streamed by an earlier connector, or
    by none), some written before its consistent point and committed after it (their rows
    locked till then), then streamed transactions with an incremental snapshot's window."""
    db = Database()
    earlier = draw(st.booleans())  # its records stay in the topic, then the new one's follow
    for transaction in draw(transactions):
        db.commit(db.write(transaction), streamed=earlier)
    locked = draw(st.sets(st.sampled_from(ROWS), max_size=2))
    straddling = [db.write([(row, draw(st.sampled_from("xyz")))]) for row in sorted(locked)]
    db.initial_snapshot()
    free = [row for row in ROWS if row not in locked]
    later = st.lists(st.tuples(st.sampled_from(free), st.one_of(st.none(), st.just("n"))),
                     min_size=1, max_size=2) if free else st.nothing()  # fmt: skip
    streamed = draw(st.lists(later, max_size=3)) if free else []
    cut = draw(st.integers(0, len(streamed)))
    for transaction in streamed[:cut]:
        db.commit(db.write(transaction), streamed=True)
    for writes in straddling:  # the first of them may be the first transaction streamed
        db.commit(writes, streamed=True)
    for transaction in streamed[cut:]:
        db.commit(db.write(transaction), streamed=True)
    chunk = draw(st.lists(st.sampled_from(ROWS), unique=True, min_size=1))
    db.incremental_window(chunk, draw(transactions))
    for transaction in draw(transactions):
        db.commit(db.write(transaction), streamed=True)
    return db


Log = dict[int, list[tuple[int, Sent]]]  # partition -> (offset, record), in offset order


def topic_of(sent: list[Sent]) -> Log:
    log: Log = {p: [] for p in range(PARTITIONS)}
    for record in sent:
        log[record.partition].append((len(log[record.partition]), record))
    return log


def compacted(log: Log, cuts: dict[int, int]) -> Log:
    """The cleaner's pass over each partition's first `cuts[p]` offsets: a key's earlier
    records there are dropped when a later one of the key lies there too."""
    out: Log = {}
    for p, records in log.items():
        head = records[: cuts[p]]
        last = {record.row: offset for offset, record in head}
        out[p] = [(o, r) for o, r in head if last[r.row] == o] + records[cuts[p] :]
    return out


@dataclass
class Run:
    """A fresh consumer (a worker's restart, a rebuild) from `starts` to each partition's end
    or `ends`, partitions interleaved and batched as drawn."""

    starts: dict[int, int]
    ends: dict[int, int] | None = None


def consume(
    log: Log, run: Run, data: st.DataObject, written: Log | None = None
) -> tuple[list[ChangeEvent], dict[int, int]]:
    """The events decoded, and each partition's offset the run may commit: its end, or an
    earlier tombstone still waiting for the record after it. `written`: the log as Debezium
    wrote it, when `log` is what compaction left of it."""
    decoder = DebeziumDecoder(TABLES)
    queues = {p: [(o, r) for o, r in records
                  if o >= run.starts[p] and (run.ends is None or o < run.ends[p])]
              for p, records in log.items()}  # fmt: skip
    events: list[ChangeEvent] = []
    while any(queues.values()):
        for _ in range(data.draw(st.integers(1, 6))):  # one batch
            ready = [p for p, queue in queues.items() if queue]
            if not ready:
                break
            p = data.draw(st.sampled_from(ready))
            offset, record = queues[p].pop(0)
            assume(not _unknowable(decoder, p, record, written or log, offset))
            found = decoder.decode(RawRecord(SOURCE, p, offset, record_key(record.row),
                                             record.value))  # fmt: skip
            assert not found.problems, found.problems
            events += [event for event, _ in found.events]
    held = {p: offset for (_, p), offset in decoder.held_back().items()}
    ends = run.ends or {p: len(records) for p, records in log.items()}
    return events, {p: min(end, held.get(p, end)) for p, end in ends.items()}


def _unknowable(decoder: DebeziumDecoder, p: int, record: Sent, log: Log, offset: int) -> bool:
    """The cases docs/debezium.md names: the first transaction streamed after a snapshot, met by a
    consumer that has not decoded the snapshot's reads before it (it started between them, or
    compaction removed them)."""
    if record.kind != "first":
        return False
    trail = decoder.trails.get((SOURCE, p))
    seen_read = trail is not None and trail.snapshot_at is not None
    before = [r.kind for o, r in log[p] if o < offset and r.kind != "tombstone"]
    follows_reads = bool(before) and before[-1] in {"read", "first"} and "read" in before
    return follows_reads and not seen_read


def final(db: Database) -> dict[ItemId, dict[str, Any]]:
    return {ItemId("users", str(row), ""): {"name": name} for row, name in db.rows.items()}


@settings(max_examples=300, deadline=None)
@given(db=histories(), data=st.data())
def test_consumed_in_order_with_restarts_and_redeliveries_the_fold_is_the_final_table(
    db: Database, data: st.DataObject
) -> None:
    """Runs over the topic: each a fresh decoder from where the last one was committed (or
    earlier: a redelivery), the last one to the end, and a suffix Connect sent twice."""
    if db.boundaries:
        again = data.draw(st.sampled_from(db.boundaries))
        db.sent += db.sent[again:]  # Connect restarted from an earlier source offset
    log = topic_of(db.sent)
    events: list[ChangeEvent] = []
    starts = dict.fromkeys(log, 0)
    for _ in range(data.draw(st.integers(1, 3))):
        ends = {p: data.draw(st.integers(starts[p], len(log[p]))) for p in log}
        decoded, committed = consume(log, Run(starts, ends), data)
        events += decoded
        starts = {p: data.draw(st.integers(0, committed[p])) for p in log}
    events += consume(log, Run(starts), data)[0]
    assert visible_state(events, TABLES) == final(db)


@settings(max_examples=300, deadline=None)
@given(db=histories(), data=st.data())
def test_a_compacted_topic_read_again_or_resumed_gives_the_final_table(
    db: Database, data: st.DataObject
) -> None:
    """A worker read part of the topic; the cleaner compacted it; the worker resumes where it
    was (its delete records may be gone: their tombstones delete), or a rebuild replays it from
    the beginning over what the worker wrote."""
    log = topic_of(db.sent)
    ends = {p: data.draw(st.integers(0, len(records))) for p, records in log.items()}
    events, committed = consume(log, Run(dict.fromkeys(log, 0), ends), data)
    # The cleaner leaves the active segment, which holds at least the last record, alone.
    cuts = {p: data.draw(st.integers(0, max(len(r) - 1, 0))) for p, r in log.items()}
    clean = compacted(log, cuts)
    rebuild = data.draw(st.booleans())
    events += consume(clean, Run(dict.fromkeys(log, 0) if rebuild else committed), data, log)[0]
    assert visible_state(events, TABLES) == final(db)


def test_a_read_with_a_later_wall_clock_still_loses_to_a_later_change() -> None:
    """ts_ms says the read is newer; the log position says it is not."""
    read = envelope("r", 500, after={"id": 1, "name": "old"}).replace(b'"ts_ms": 2', b'"ts_ms": 9')
    change = envelope("u", 501, after={"id": 1, "name": "new"}, last_commit=None)
    decoder = DebeziumDecoder(TABLES)
    state = visible_state([decode_one(decoder, v) for v in (change, read)], TABLES)
    assert state == {ItemId("users", "1", ""): {"name": "new"}}


def test_the_history_holds_what_the_properties_need() -> None:
    """The model sends the records the properties are about: a first transaction written
    before the snapshot's consistent point, incremental reads, tombstones."""
    db = Database()
    db.commit(db.write([(1, "a"), (2, "b")]), streamed=False)
    early = db.write([(1, "x")])
    db.initial_snapshot()
    db.commit(early, streamed=True)
    db.incremental_window([2], [])
    db.commit(db.write([(2, None)]), streamed=True)
    kinds = [(r.kind, json.loads(r.value)["payload"]["source"]["snapshot"] if r.value else None)
             for r in db.sent]  # fmt: skip
    assert kinds == [("read", "true"), ("read", "true"), ("first", "false"),
                     ("read", "incremental"), ("change", "false"), ("tombstone", None)]  # fmt: skip
    first = json.loads(db.sent[2].value or b"")["payload"]["source"]
    read = json.loads(db.sent[0].value or b"")["payload"]["source"]
    assert first["lsn"] < read["lsn"] and json.loads(first["sequence"])[0] is None
