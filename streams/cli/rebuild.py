"""`rebuild`: replay the changes topic into one store, then stop."""

import argparse
import asyncio
import time
from datetime import datetime

from streams.cli.arguments import Subcommands
from streams.kafka.topic_health import check_topic
from streams.model.errors import ConfigError
from streams.pipeline.rebuild import rebuild
from streams.settings import Settings
from streams.snapshot.progress import progress_reporter
from streams.stores import STORE_NAMES, open_store, prepare_store, store_kind


def add_commands(sub: Subcommands) -> None:
    rebuild = sub.add_parser("rebuild", help="replay the topic into one store, then stop")
    rebuild.add_argument("--store", required=True, choices=STORE_NAMES, help="the store to fill")
    start = rebuild.add_mutually_exclusive_group()
    start.add_argument("--from-beginning", action="store_true", help="the default")
    start.add_argument(
        "--from-time", type=datetime.fromisoformat, help="ISO 8601, e.g. 2026-11-01T00:00Z"
    )
    rebuild.add_argument("--allow-partial", action="store_true",
                         help="replay even a topic that has lost its oldest records")  # fmt: skip
    rebuild.set_defaults(handler=cmd_rebuild)


def cmd_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    if args.from_time is not None and args.from_time.timestamp() > time.time():
        # Nothing was written after it: a replay would read nothing and look like success.
        raise ConfigError(f"--from-time {args.from_time.isoformat()} is in the future")
    return asyncio.run(rebuild_store(settings, args.store, args.from_time, args.allow_partial))


async def rebuild_store(
    settings: Settings, store_name: str, from_time: datetime | None, allow_partial: bool = False
) -> int:
    # Warnings on stderr; a missing topic stops here.
    await check_topic(settings.kafka, settings.changes)
    # DynamoDB's tables, a Redis layout's slots; a replay of the whole topic writes every
    # item where its layout keeps it now: a changed layout is no refusal, but recorded after.
    whole = from_time is None
    await prepare_store(settings, store_name, rebuild=whole)
    store = open_store(settings, store_name)
    try:
        # A command stops at a store it cannot reach (one line, exit 2); once it is writing,
        # an outage is retried with backoff, as the worker does.
        await store.ping()
        with progress_reporter(f"rebuild {store_name}", None) as progress:
            summary = await rebuild(
                settings.intake, store, from_time=from_time, on_progress=progress,
                allow_partial=allow_partial,
            )  # fmt: skip
    finally:
        await store.close()
    if whole:
        await store_kind(store_name).rebuilt(settings)
    print(
        f"replayed {summary.records:,} records into {store_name} in {summary.seconds:.1f}s "
        f"({summary.rate:,.0f}/s): {summary.applied:,} applied, {summary.stale:,} already newer, "
        f"{summary.superseded:,} superseded by a later record, {summary.refused:,} refused by "
        f"{store_name} and {summary.invalid:,} invalid (both dead-lettered before); "
        f"group {summary.group}"
    )
    for line in debezium_notes(settings):
        print(line)
    return 0


def debezium_notes(settings: Settings) -> list[str]:
    """A table fed by a Debezium topic is not in the changes topic, so the replay left it out;
    its database holds its whole state (a Debezium topic usually keeps days, not history). A
    repair from the table writes above whatever the store holds (tombstones the replay brought
    back included), where a snapshot would only fill what is missing."""
    return [
        f"note: table {name} is fed by {spec.source}, not by {settings.topic}: bring it back "
        f"from the database with `cdc-replicator verify --source postgres --table {name} "
        "--store <the store> --repair`"
        for name, spec in settings.tables.items()
        if spec.format == "debezium"
    ]
