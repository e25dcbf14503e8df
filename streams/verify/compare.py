"""Compare Redis and DynamoDB item by item with flat memory, and repair drift through the topic.

Two passes, a page at a time: every DynamoDB item (a Scan) is looked up in Redis; then every
Redis item (a SCAN) is looked up in DynamoDB, which finds what only Redis holds. Tombstones
count as absent data but keep their versions: a newer tombstone beats an older live item.
Expired items too: each store's read compares the item's expiry with now (Redis: `x` in the
bookkeeping; DynamoDB: `_live_until`, as its TTL deletes items later) and marks it `expired`.
Both stores compute the same instant from the event, but one may drop an expired version a
moment before the other: the same version, expired on one side, is not drift.
An item Redis holds and DynamoDB cannot (over its sizes or numbers: the worker dead-lettered it
for DynamoDB alone) is counted and named as `dynamodb_cannot_hold`: no drift, no repair.
"""

import dataclasses
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from connectors.sources.snapshot_source import SourceItem
from connectors.store import StoredItem, StoreReads, Strays
from streams.model.errors import InvalidEventError
from streams.model.events import SNAPSHOT_TS, ChangeEvent, ItemId, Version, build_event
from streams.model.tables import TableSpec
from streams.snapshot.run import snapshot_version

Flush = Callable[[Sequence[ChangeEvent]], Awaitable[int]]
Kind = Literal["missing_in_redis", "missing_in_dynamodb", "data_differs", "version_differs",
               "index_differs", "source_problems", "missing_in_postgres",
               "dynamodb_cannot_hold"]  # fmt: skip
# What counts as disagreement; the other counts (compared, live items, repairs) are bookkeeping.
# missing_in_postgres: a store item no row of the table Debezium reads holds (verify --source).
DRIFT_KINDS = ("missing_in_redis", "missing_in_dynamodb", "data_differs", "version_differs",
               "index_differs", "source_problems", "missing_in_postgres")  # fmt: skip
UNVERSIONED = ""  # an item written before the replicator (no `_v`): older than every version
SAMPLES = 10
REPAIR_SUFFIX = "!"  # the least event-id character: the very next version after the tie


def classify(redis: StoredItem | None, dynamo: StoredItem | None) -> Kind | None:
    """How two stores disagree about one item, or None when they agree. An item a change event
    cannot carry (a DynamoDB set, binary, a malformed `_v`) is a source problem: comparing it
    would only find a set turned into a list, and no repair can copy it unaltered."""
    if redis is not None and redis.foreign and not (dynamo is not None and dynamo.live):
        return None  # its key is another item's, and DynamoDB holds it deleted or not at all
    if any(side is not None and side.problem for side in (dynamo, redis)):
        return "source_problems"  # Redis: unreadable data, or a key another item owns
    if redis is not None and redis.live and dynamo is not None and dynamo.live:
        return _both_live(redis, dynamo)
    if redis is not None and redis.live:
        return _one_sided(redis, dynamo, "missing_in_dynamodb")
    if dynamo is not None and dynamo.live:
        return _one_sided(dynamo, redis, "missing_in_redis")
    return None  # deleted or absent on both sides


def _both_live(redis: StoredItem, dynamo: StoredItem) -> Kind | None:
    if redis.data != dynamo.data:
        return "data_differs"
    if redis.version != dynamo.version:
        return "version_differs"
    return "index_differs" if redis.unlisted else None  # `list` would not show it so


def _one_sided(live: StoredItem, other: StoredItem | None, missing: Kind) -> Kind | None:
    if other is not None and other.version > live.version:
        return "version_differs"  # a newer delete that the live side missed
    if other is not None and other.expired and other.version == live.version:
        return None  # the same version, expired in one store first
    return missing


@dataclass(frozen=True)
class Drift:
    kind: Kind
    item: ItemId
    redis: StoredItem | None
    dynamodb: StoredItem | None

    @property
    def problem(self) -> str | None:
        """Why no change event can carry the item, for a source problem."""
        return next((s.problem for s in (self.dynamodb, self.redis) if s and s.problem), None)

    def as_json(self) -> dict[str, Any]:
        shown = {
            "kind": self.kind,
            "key": list(self.item),
            "redis": _side(self.redis),
            "dynamodb": _side(self.dynamodb),
        }
        unlisted = self.redis.unlisted if self.redis else None
        return (
            shown
            | ({"problem": self.problem} if self.problem else {})
            | ({"unlisted": unlisted} if unlisted else {})
        )


def _side(stored: StoredItem | None) -> dict[str, Any] | None:
    return None if stored is None else {"version": stored.version, "data": stored.data}


@dataclass
class VerifyReport:
    table: str
    counts: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[Drift]] = field(default_factory=dict)
    unrepairable: list[str] = field(default_factory=list)  # samples: the item, and why
    problems: list[str] = field(default_factory=list)  # samples: where in a source, and why
    notes: list[str] = field(default_factory=list)  # what is no drift but needs an operator

    @property
    def drifted(self) -> int:
        return sum(self.counts[kind] for kind in DRIFT_KINDS)

    def add(self, drift: Drift) -> None:
        self.counts[drift.kind] += 1
        sample = self.samples.setdefault(drift.kind, [])
        if len(sample) < SAMPLES:
            sample.append(drift)

    def note_strays(self, strays: Strays) -> None:
        """Bookkeeping an earlier layout left is no drift (its items are compared where the
        layout keeps them now), but it never expires: say so, once."""
        self.counts["stray_bookkeeping"] = strays.count
        shown = ", ".join(repr(key) for key in strays.samples)
        self.notes.append(
            f"{strays.count} Redis bookkeeping keys of {self.table} are not where its layout "
            f"keeps them (left by an earlier layout or key template; not compared, safe to "
            f"delete), e.g. {shown}"
        )

    def add_problem(self, problem: str) -> None:
        """Source data that cannot become an item: `problem` names where it is, and why."""
        self.counts["source_problems"] += 1
        if len(self.problems) < SAMPLES:
            self.problems.append(problem)

    def as_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "agree": self.drifted == 0,
            "counts": dict(self.counts),
            "samples": {
                kind: [d.as_json() for d in drifts] for kind, drifts in self.samples.items()
            },
            "unrepairable": self.unrepairable,
            "problems": self.problems,
            "notes": self.notes,
        }


async def drifts(
    redis: StoreReads, dynamo: StoreReads, table: str, report: VerifyReport
) -> AsyncIterator[Drift]:
    """Every drifted item of `table`, counting what was compared into `report`: first the items
    DynamoDB holds, then those only Redis holds."""
    spec = dynamo.tables[table]
    async for page in dynamo.item_pages(table):
        in_redis = await redis.read_many(table, [item for item, _ in page])
        for item, stored in page:
            drift = _compared(report, item, in_redis.get(item), _versioned(item, stored, spec))
            if drift:
                yield _held_by_redis_only(drift, dynamo)
    strays = Strays()
    async for page in redis.item_pages(table, strays=strays):
        in_dynamo = await dynamo.read_many(table, [item for item, _ in page])
        for item, stored in page:
            drift = None if item in in_dynamo else _compared(report, item, stored, None)
            if drift:
                yield _held_by_redis_only(drift, dynamo)
    if strays.count:
        report.note_strays(strays)


def _compared(
    report: VerifyReport, item: ItemId, redis: StoredItem | None, dynamo: StoredItem | None
) -> Drift | None:
    _count_live(report, redis, dynamo)
    kind = classify(redis, dynamo)
    return Drift(kind, item, redis, dynamo) if kind else None


def _held_by_redis_only(drift: Drift, dynamo: StoreReads) -> Drift:
    """The drift, or a `dynamodb_cannot_hold` naming why, when Redis holds the winning version
    and DynamoDB cannot hold it."""
    redis, stored = drift.redis, drift.dynamodb
    if redis is None or not redis.live or (stored is not None and stored.version > redis.version):
        return drift
    fields = {"table": drift.item.table, "op": "upsert", "data": redis.data}
    try:
        key = drift.item.key(dynamo.tables[drift.item.table])
        event = build_event(fields | {"key": key} | Version.from_token(redis.version)._asdict(),
                            dynamo.tables)  # fmt: skip
    except (InvalidEventError, ValueError):
        return drift  # not an event at all: reported as it is
    reason = dynamo.cannot_hold(event)
    if reason is None:
        return drift
    return Drift("dynamodb_cannot_hold", drift.item, dataclasses.replace(redis, problem=reason),
                 stored)  # fmt: skip


def _versioned(item: ItemId, stored: StoredItem, spec: TableSpec) -> StoredItem:
    """An item written before the replicator (no `_v`) has the version `snapshot --source
    dynamodb` gives it: a Redis copy filled that way agrees, and a repair can republish it."""
    if stored.version != UNVERSIONED or stored.problem:
        return stored
    source_item = SourceItem(item.table, item.key(spec), stored.data or {})
    return StoredItem(snapshot_version(source_item, "dynamodb").token(), stored.data)


def _count_live(report: VerifyReport, redis: StoredItem | None, dynamo: StoredItem | None) -> None:
    report.counts["compared"] += 1
    report.counts["redis"] += bool(redis and redis.live)
    report.counts["dynamodb"] += bool(dynamo and dynamo.live)


def repair_event(
    drift: Drift, spec: TableSpec, tables: Mapping[str, TableSpec], prefer: str
) -> ChangeEvent:
    """The write that heals `drift` when it goes through the topic: the winning version, as it
    was; for equal versions (different data, or data one store lost), a hair newer, with the
    preferred store's data when both hold some.
    ValueError for an item no event can carry: neither store is touched."""
    if drift.problem:
        raise ValueError(drift.problem)
    sides = {"redis": drift.redis, "dynamodb": drift.dynamodb}
    present = [s for s in sides.values() if s is not None]
    winner = max(present, key=lambda s: (s.version, s.live))  # a tie: the side holding data
    version = Version.from_token(winner.version)
    if len(present) == 2 and all(s.version == winner.version for s in present):
        # Both stores hold the version (one lost its data behind our back, or the data
        # differs): only a newer one can be applied again.
        if drift.kind == "data_differs":
            winner = sides[prefer] or winner
        version = version._replace(event_id=version.event_id + REPAIR_SUFFIX)
        if version.fills_only:  # a tie at a snapshot's version: a fill would change neither store
            version = version._replace(ts=SNAPSHOT_TS + 1)
    op = "upsert" if winner.live else "delete"
    key = drift.item.key(spec)
    fields = {"table": drift.item.table, "op": op, "key": key, "data": winner.data}
    return build_event(fields | version._asdict(), tables)


async def verify_table(
    redis: StoreReads, dynamo: StoreReads, table: str, on_drift: "DriftHandler | None" = None
) -> VerifyReport:
    report = VerifyReport(table)
    async for drift in drifts(redis, dynamo, table, report):
        report.add(drift)
        if on_drift is not None and drift.kind in DRIFT_KINDS:
            await on_drift(drift, report)
    return report


class DriftHandler:
    """Collects repair events and hands them over in batches (flat memory)."""

    def __init__(
        self, spec: TableSpec, tables: Mapping[str, TableSpec], prefer: str, flush: Flush
    ) -> None:
        self.spec, self.tables, self.prefer, self.flush = spec, tables, prefer, flush
        self.pending: list[ChangeEvent] = []
        self.repaired = 0

    async def __call__(self, drift: Drift, report: VerifyReport) -> None:
        """Queue the drift's repair; one that cannot be an event is named in `report`, and the
        others are repaired all the same."""
        try:
            event = repair_event(drift, self.spec, self.tables, self.prefer)
        except (InvalidEventError, ValueError) as exc:  # ValueError: a source problem
            report.counts["unrepairable"] += 1
            if len(report.unrepairable) < SAMPLES:
                report.unrepairable.append(f"{json.dumps(list(drift.item))}: {exc}")
            return
        self.pending.append(event)
        if len(self.pending) >= 1000:
            await self.drain()

    async def drain(self) -> None:
        if self.pending:
            self.repaired += await self.flush(self.pending)
            self.pending = []
