"""What `verify` compares: each table in Redis against DynamoDB, or a store against a snapshot
source (the check before cutover); with `repair`, the fixes are republished."""

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from connectors.source import SnapshotSource, SourceItem
from streams.kafka.clients import Kafka
from streams.kafka.publisher import Publisher
from streams.model.errors import ConfigError, InvalidEventError
from streams.model.events import ChangeEvent, ItemId, check_item
from streams.model.tables import TableSpec
from streams.settings import Settings
from streams.snapshot.options import SourceOptions
from streams.snapshot.seed import snapshot_event
from streams.snapshot.sources import check_source, open_source
from streams.stores import open_store
from streams.verify.compare import DriftHandler, VerifyReport, verify_table

Publish = Callable[[Sequence[ChangeEvent]], Awaitable[int]]


@dataclass(frozen=True)
class VerifyOptions:
    table: str | None = None  # None: every declared table
    repair: bool = False  # republish the winner of each drift (or each missing source item)
    prefer: str = "dynamodb"  # whose data wins when versions tie but data differs
    store: str = "dynamodb"  # the store compared against `source`
    source: SourceOptions | None = None  # None: compare the stores with each other


async def verify(settings: Settings, options: VerifyOptions) -> list[VerifyReport]:
    tables = [_declared(settings, options.table)] if options.table else list(settings.tables)
    if options.source:
        check_source(settings, options.source)  # before anything connects
    async with Publisher(
        Kafka.of(settings.kafka), settings.topic, settings.tables, "verify"
    ) as publisher:

        async def publish(events: Sequence[ChangeEvent]) -> int:
            return await publisher.publish(events)

        if options.source:
            return [await verify_source(settings, options, options.source, publish)]
        return [await verify_stores(settings, table, options, publish) for table in tables]


def _declared(settings: Settings, table: str) -> str:
    if table not in settings.tables:
        declared = ", ".join(settings.tables)
        raise ConfigError(f"table {table!r} is not declared in CDC_TABLES (declared: {declared})")
    return table


async def verify_stores(
    settings: Settings, table: str, options: VerifyOptions, publish: Publish
) -> VerifyReport:
    redis, dynamo = open_store(settings, "redis"), open_store(settings, "dynamodb")
    handler = (
        DriftHandler(settings.tables[table], settings.tables, options.prefer, publish)
        if options.repair
        else None
    )
    try:
        report = await verify_table(redis, dynamo, table, handler)
        if handler is not None:
            await handler.drain()
            report.counts["republished"] = handler.repaired
    finally:
        await redis.close()
        await dynamo.close()
    return report


async def verify_source(
    settings: Settings, options: VerifyOptions, source_options: SourceOptions, publish: Publish
) -> VerifyReport:
    """Every source item must be in the store with the same data (the check before cutover).
    Source data that cannot become an event is a source problem, named, and the rest goes on."""
    table, store_name = source_options.table, options.store
    source: SnapshotSource = open_source(settings, source_options)
    store = open_store(settings, store_name)
    spec = settings.tables[table]
    report = VerifyReport(table)
    try:
        async for chunk in source.chunks(None):
            for problem in chunk.problems:
                report.add_problem(f"{problem.key}: {problem.reason}")
            items = [i for i in chunk.items if _valid(i, table, settings.tables, report)]
            ids = [ItemId.of(i.table, i.key, spec) for i in items]
            held = await store.read_many(table, ids) if ids else {}
            missing = []
            for item, item_id in zip(items, ids, strict=True):
                stored = held.get(item_id)
                report.counts["compared"] += 1
                if stored is None or not stored.live:
                    report.counts[f"missing_in_{store_name}"] += 1
                    missing.append(snapshot_event(item, source_options.name, settings.tables))
                elif stored.data != item.data:
                    report.counts["data_differs"] += 1
            if options.repair and missing:
                report.counts["republished"] += await publish(missing)
    finally:
        await source.close()
        await store.close()
    return report


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
