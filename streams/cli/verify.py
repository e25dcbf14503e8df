"""The body of `verify`: stores against each other, or a store against a snapshot source."""

import argparse
import json
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.source import SnapshotSource, SourceItem
from streams.kafka.clients import Kafka
from streams.kafka.publisher import Publisher
from streams.model import numbers
from streams.model.errors import ConfigError, InvalidEventError
from streams.model.events import ChangeEvent, ItemId, check_item
from streams.model.tables import TableSpec
from streams.settings import Settings
from streams.snapshot.seed import snapshot_event
from streams.snapshot.sources import check_source, open_source
from streams.stores import open_store
from streams.verify.compare import DriftHandler, VerifyReport, verify_table


async def verify(settings: Settings, args: argparse.Namespace) -> int:
    tables = [_declared(settings, args.table)] if args.table else list(settings.tables)
    if args.source:
        args.table = args.table or next(iter(settings.tables))
        check_source(settings, args.source, args)  # before anything connects
    async with Publisher(
        Kafka.of(settings), settings.topic, settings.tables, "verify"
    ) as publisher:

        async def publish(events: Sequence[ChangeEvent]) -> int:
            return await publisher.publish(events)

        if args.source:
            reports = [await verify_source(settings, args, publish)]
        else:
            reports = [await verify_stores(settings, table, args, publish) for table in tables]
    print_reports(reports, args.json)
    return 0 if all(r.drifted == 0 for r in reports) else 1


def _declared(settings: Settings, table: str) -> str:
    if table not in settings.tables:
        declared = ", ".join(settings.tables)
        raise ConfigError(f"table {table!r} is not declared in CDC_TABLES (declared: {declared})")
    return table


async def verify_stores(
    settings: Settings, table: str, args: argparse.Namespace, publish: Any
) -> VerifyReport:
    redis, dynamo = open_store(settings, "redis"), open_store(settings, "dynamodb")
    handler = (
        DriftHandler(settings.tables[table], settings.tables, args.prefer, publish)
        if args.repair
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


async def verify_source(settings: Settings, args: argparse.Namespace, publish: Any) -> VerifyReport:
    """Every source item must be in the store with the same data (the check before cutover).
    Source data that cannot become an event is a source problem, named, and the rest goes on."""
    source: SnapshotSource = open_source(settings, args.source, args)
    store = open_store(settings, args.store)
    spec = settings.tables[args.table]
    report = VerifyReport(args.table)
    try:
        async for chunk in source.chunks(None):
            for problem in chunk.problems:
                report.add_problem(f"{problem.key}: {problem.reason}")
            items = [i for i in chunk.items if _valid(i, args.table, settings.tables, report)]
            ids = [ItemId.of(i.table, i.key, spec) for i in items]
            held = await store.read_many(args.table, ids) if ids else {}
            missing = []
            for item, item_id in zip(items, ids, strict=True):
                stored = held.get(item_id)
                report.counts["compared"] += 1
                if stored is None or not stored.live:
                    report.counts[f"missing_in_{args.store}"] += 1
                    missing.append(snapshot_event(item, args.source, settings.tables))
                elif stored.data != item.data:
                    report.counts["data_differs"] += 1
            if args.repair and missing:
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


def print_reports(reports: Sequence[VerifyReport], as_json: bool) -> None:
    if as_json:
        shown = numbers.shown([r.as_json() for r in reports])  # sets and binary as `get` shows them
        print(numbers.dumps(shown, indent=2).decode())
        return
    for report in reports:
        verdict = "agree" if report.drifted == 0 else f"DRIFT ({report.drifted} items)"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()))
        print(f"{report.table}: {verdict}; {counts}")
        for kind, drifts in report.samples.items():
            for drift in drifts:
                key = json.dumps(drift.as_json()["key"], ensure_ascii=False)
                print(f"  {kind}: {key}" + (f" ({drift.problem})" if drift.problem else ""))
        for problem in report.problems:
            print(f"  source problem: {problem}")
        for failure in report.unrepairable:
            print(f"  could not republish {failure}")
        if report.counts["unrepairable"]:
            print(f"  {report.counts['unrepairable']} items could not be republished; "
                  "the others were")  # fmt: skip
