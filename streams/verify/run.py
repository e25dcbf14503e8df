"""What `verify` compares: each table in Redis against DynamoDB, or a store against a snapshot
source (the check before cutover); with `repair`, the fixes are republished."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from connectors.sources.postgres import PostgresSource
from connectors.sources.snapshot_source import SnapshotSource
from streams.kafka.clients import Kafka
from streams.kafka.publisher import Publisher
from streams.model.events import ChangeEvent
from streams.settings import Settings
from streams.settings_parts import DeclaredTables, SourceSettings
from streams.snapshot.options import SourceOptions
from streams.snapshot.sources import check_source, open_source
from streams.stores import STORE_NAMES, StoreOpener, store_opener
from streams.verify.against_source import (
    SourceCheck,
    compare_source,
    repair_from_table,
    republish_missing,
)
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
    """The whole Settings: the stores are opened through the registry (streams/stores.py)."""
    declared = settings.declared_tables
    tables = [_declared(declared, options.table)] if options.table else list(declared)
    if options.source:
        check_source(declared, options.source)  # before anything connects
    async with Publisher(
        Kafka.of(settings.kafka), settings.changes.name, declared, "verify"
    ) as publisher:

        async def publish(events: Sequence[ChangeEvent]) -> int:
            return await publisher.publish(events)

        stores = store_opener(settings)
        if options.source:
            sources = settings.sources
            return [await verify_source(stores, sources, options, options.source, publish)]
        return [await verify_stores(stores, declared, t, options, publish) for t in tables]


def _declared(tables: DeclaredTables, table: str) -> str:
    tables.table(table)  # a ConfigError naming where the tables are declared
    return table


async def verify_stores(
    open_store: StoreOpener,
    tables: DeclaredTables,
    table: str,
    options: VerifyOptions,
    publish: Publish,
) -> VerifyReport:
    redis, dynamo = open_store("redis"), open_store("dynamodb")
    handler = (
        DriftHandler(tables[table], tables, options.prefer, publish) if options.repair else None
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
    open_store: StoreOpener,
    sources: SourceSettings,
    options: VerifyOptions,
    source_options: SourceOptions,
    publish: Publish,
) -> VerifyReport:
    """The store against the source; source data that cannot become an event is a source
    problem, named, and the rest goes on."""
    table, tables = source_options.table, sources.tables
    source: SnapshotSource = open_source(sources, source_options)
    store = open_store(options.store)
    # A repair from the table reads both stores' versions, so that both take it.
    stores = [open_store(name) for name in STORE_NAMES] if options.repair else []
    repair = None
    if options.repair and isinstance(source, PostgresSource):
        repair = repair_from_table(source, stores, publish, tables)
    elif options.repair:
        repair = republish_missing(publish, source_options.name, tables)
    report = VerifyReport(table)
    try:
        check = SourceCheck(table, source, store, tables, repair)
        await compare_source(check, report)
    finally:
        await source.close()
        for opened in (store, *stores):
            await opened.close()
    return report
