"""`verify --source`: a store against a snapshot source (the check before cutover).

Every source item must be in the store with the same data. The PostgreSQL table Debezium reads
is the truth, and can be looked up by key: the store's items are walked too, so a row gone from
the table but still in the store (a truncate, a missed delete) is drift, `missing_in_postgres`.

Repair from the table (`repair_from_table`) gives each drifted item the table's row as it is now
(or a delete when no row holds it) with a version both stores take: the greater of the two
stores' versions made a hair newer, or, when neither holds the item, the snapshot's version
(which only fills). The versions are read before the row: any change committed after that read
reaches the stores with a greater log position, so the repair never hides it. Other sources are
the old store of a dual-write migration, not the truth: only what the store lacks is
republished, with the snapshot's version.
"""

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from connectors.sources.postgres import PostgresSource
from connectors.sources.snapshot_source import SnapshotSource, SourceItem, SourceProblem
from connectors.store import StoredItem, StoreReads
from streams.model.errors import InvalidEventError
from streams.model.events import SNAPSHOT_TS, ChangeEvent, ItemId, Version, build_event, check_item
from streams.model.tables import TableSpec
from streams.snapshot.run import snapshot_event
from streams.verify.compare import REPAIR_SUFFIX, SAMPLES, Drift, Kind, VerifyReport

Publish = Callable[[Sequence[ChangeEvent]], Awaitable[int]]
Drifted = tuple[ItemId, SourceItem | None, Kind]  # the item, as the source holds it, and how
Repair = Callable[[list[Drifted], VerifyReport], Awaitable[None]]


@dataclass(frozen=True)
class SourceDrift(Drift):
    """A drift between the source and one store; the other store's side stays None."""

    store: str = ""
    source: str = ""
    source_data: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        held = self.redis if self.store == "redis" else self.dynamodb
        return {
            "kind": self.kind,
            "key": list(self.item),
            self.source: None if self.source_data is None else {"data": self.source_data},
            self.store: None if held is None else {"version": held.version, "data": held.data},
        }


@dataclass
class SourceCheck:
    """What one `verify --source` run compares, and where its repairs go."""

    table: str
    source: SnapshotSource
    store: StoreReads
    tables: Mapping[str, TableSpec]
    repair: Repair | None

    def drift(
        self, kind: Kind, item: ItemId, held: StoredItem | None, data: dict[str, Any] | None
    ) -> SourceDrift:
        sides = {"redis": held if self.store.name == "redis" else None,
                 "dynamodb": held if self.store.name == "dynamodb" else None}  # fmt: skip
        return SourceDrift(kind, item, **sides, store=self.store.name, source=self.source.name,
                           source_data=data)  # fmt: skip


async def compare_source(check: SourceCheck, report: VerifyReport) -> None:
    """Every source item against the store; then, for the table, every store item against it."""
    spec = check.tables[check.table]
    async for chunk in check.source.chunks(None):
        for problem in chunk.problems:
            report.add_problem(f"{problem.key}: {problem.reason}")
        items = [i for i in chunk.items if _valid(i, check.table, check.tables, report)]
        ids = [ItemId.of(i.table, i.key, spec) for i in items]
        held = await check.store.read_many(check.table, ids) if ids else {}
        drifted: list[Drifted] = []
        for item, item_id in zip(items, ids, strict=True):
            report.counts["compared"] += 1
            stored = held.get(item_id)
            if item.deleted and not (stored is not None and stored.live):
                continue  # a tombstone (or expired item) the source keeps: gone in both
            if stored is not None and stored.problem:  # cannot be compared, nor repaired
                report.add_problem(f"{check.store.name}: {stored.problem}")
                continue
            kind = _kind(stored, item, check.store.name)
            unheld = kind and check.store.cannot_hold(snapshot_event(item, "verify", check.tables))
            if unheld:  # dead-lettered for this store: no drift, no repair
                shown = replace(stored or StoredItem("", None), problem=unheld)
                report.add(check.drift("dynamodb_cannot_hold", item_id, shown, item.data))
            elif kind:
                report.add(check.drift(kind, item_id, held.get(item_id), item.data))
                drifted.append((item_id, item, kind))
        if check.repair and drifted:
            await check.repair(drifted, report)
    if isinstance(check.source, PostgresSource):
        await _walk_store(check, check.source, report)


def _kind(held: StoredItem | None, item: SourceItem, store: str) -> Kind | None:
    if held is None or not held.live:
        return "missing_in_redis" if store == "redis" else "missing_in_dynamodb"
    return "data_differs" if held.data != item.data else None


async def _walk_store(check: SourceCheck, table: PostgresSource, report: VerifyReport) -> None:
    """Each live item of the store that no row of the table holds is `missing_in_postgres`."""
    async for page in check.store.item_pages(check.table):
        live = [(item, held) for item, held in page if held.live]
        rows = await table.rows_of([item for item, _ in live])
        gone: list[Drifted] = []
        for item, held in live:
            if item not in rows:
                report.counts["compared"] += 1
                report.add(check.drift("missing_in_postgres", item, held, None))
                gone.append((item, None, "missing_in_postgres"))
        if check.repair and gone:
            await check.repair(gone, report)


def republish_missing(publish: Publish, source: str, tables: Mapping[str, TableSpec]) -> Repair:
    """A migration source's repair: what the store lacks, at the snapshot's version."""

    async def repair(drifted: list[Drifted], report: VerifyReport) -> None:
        missing = [
            snapshot_event(item, source, tables)
            for _, item, kind in drifted
            if item and kind.startswith("missing_in_")
        ]
        report.counts["republished"] += await publish(missing)

    return repair


def repair_from_table(
    table: PostgresSource, stores: Sequence[StoreReads], publish: Publish,
    tables: Mapping[str, TableSpec],
) -> Repair:  # fmt: skip
    """The table's repair: each item's row as it is now, at a version every store takes."""

    async def repair(drifted: list[Drifted], report: VerifyReport) -> None:
        ids = [item for item, _, _ in drifted]
        held = [await store.read_many(table.table, ids) for store in stores]  # before the rows
        rows = await table.rows_of(ids)
        events = []
        for item in ids:
            versions = [h[item].version for h in held if item in h]
            try:
                event = table_repair_event(item, rows.get(item), versions, table.name, tables)
            except (InvalidEventError, ValueError) as exc:  # ValueError: a malformed version
                _unrepairable(report, item, str(exc))
                continue
            if event is not None:
                events.append(event)
        report.counts["republished"] += await publish(events)

    return repair


def table_repair_event(
    item: ItemId, row: SourceItem | SourceProblem | None, held: Sequence[str], source: str,
    tables: Mapping[str, TableSpec],
) -> ChangeEvent | None:  # fmt: skip
    """The row (None: gone, a delete) at a version above every `held` one; None when there is
    nothing to write. ValueError for a row that cannot be compared, or a malformed version."""
    if isinstance(row, SourceProblem):
        raise ValueError(row.reason)  # noqa: TRY004 -- a source problem, like a bad version
    if not held:
        return None if row is None else snapshot_event(row, source, tables)
    newest = Version.from_token(max(held))  # token order is version order
    version = newest._replace(event_id=newest.event_id + REPAIR_SUFFIX)
    if version.fills_only:  # a snapshot's version raised a hair would still only fill
        version = version._replace(ts=SNAPSHOT_TS + 1)
    spec = tables[item.table]
    change = {"op": "upsert", "data": row.data} if row else {"op": "delete"}
    return build_event({"table": item.table, "key": item.key(spec), **change,
                        **version._asdict()}, tables)  # fmt: skip


def _unrepairable(report: VerifyReport, item: ItemId, why: str) -> None:
    report.counts["unrepairable"] += 1
    if len(report.unrepairable) < SAMPLES:
        report.unrepairable.append(f"{json.dumps(list(item))}: {why}")


def _valid(
    item: SourceItem, table: str, tables: Mapping[str, TableSpec], report: VerifyReport
) -> bool:
    """Whether a snapshot could publish `item` (of `table`); if not, a named source problem."""
    why = _why_invalid(item, table, tables)
    if why:
        report.add_problem(f"{item.where or json.dumps(item.key, ensure_ascii=False)}: {why}")
    return why is None


def _why_invalid(item: SourceItem, table: str, tables: Mapping[str, TableSpec]) -> str | None:
    if item.table != table:
        return f"unknown_table: table {item.table!r}, not {table!r}"
    op, data = ("delete", None) if item.deleted else ("upsert", item.data)
    try:
        check_item(item.table, op, item.key, data, tables)
    except InvalidEventError as exc:
        return f"{exc.reason}: {exc}"
    return None
