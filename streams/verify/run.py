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
from streams.snapshot.options import SourceOptions
from streams.snapshot.sources import check_source, open_source
from streams.stores import STORE_NAMES, open_store
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
    settings.table(table)  # a ConfigError naming where the tables are declared
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
    """The store against the source; source data that cannot become an event is a source
    problem, named, and the rest goes on."""
    table = source_options.table
    source: SnapshotSource = open_source(settings, source_options)
    store = open_store(settings, options.store)
    # A repair from the table reads both stores' versions, so that both take it.
    stores = [open_store(settings, name) for name in STORE_NAMES] if options.repair else []
    repair = None
    if options.repair and isinstance(source, PostgresSource):
        repair = repair_from_table(source, stores, publish, settings.tables)
    elif options.repair:
        repair = republish_missing(publish, source_options.name, settings.tables)
    report = VerifyReport(table)
    try:
        check = SourceCheck(table, source, store, settings.tables, repair)
        await compare_source(check, report)
    finally:
        await source.close()
        for opened in (store, *stores):
            await opened.close()
    return report
