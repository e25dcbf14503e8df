"""The async bodies of the CLI's short commands."""

import asyncio
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.sink import Item
from streams.cli.jsonl import ParsedLines, parse_lines
from streams.kafka.clients import Kafka
from streams.kafka.lag import (
    GroupSample,
    Status,
    consumed_topics,
    watch_group,
    worst_status,
)
from streams.kafka.publisher import Publisher
from streams.kafka.topic_health import check_topic
from streams.model.errors import ConfigError
from streams.model.numbers import counted
from streams.model.tables import TableSpec
from streams.pipeline.rebuild import rebuild
from streams.settings import Settings
from streams.snapshot.progress import progress_reporter
from streams.stores import open_store, prepare_store


def read_lines(path: str) -> list[bytes]:
    return sys.stdin.buffer.readlines() if path == "-" else Path(path).read_bytes().splitlines()


async def publish_lines(
    settings: Settings, path: str, lines: list[bytes], skip_invalid: bool
) -> int:
    """Validate every line first: a file with a bad line publishes nothing, unless told to."""
    parsed = parse_lines(lines, settings.tables)
    for number, why in parsed.errors:
        print(f"{path}:{number}: {why}", file=sys.stderr)
    if parsed.errors and not skip_invalid:
        print(_refused(parsed, path), file=sys.stderr)
        return 2
    async with Publisher(
        Kafka.of(settings), settings.topic, settings.tables, settings.origin
    ) as publisher:
        count = await publisher.publish(parsed.events)
    print(f"published {counted(count, 'event')} to {settings.topic}, "
          f"skipped {len(parsed.errors):,} invalid")  # fmt: skip
    return 0


def _refused(parsed: ParsedLines, path: str) -> str:
    where = "stdin" if path == "-" else path
    line = f"error: {counted(len(parsed.errors), 'invalid line')} in {where}, nothing published"
    if not parsed.events:
        return line
    return f"{line}; --skip-invalid publishes the other {counted(len(parsed.events), 'event')}"


async def get_item(
    settings: Settings, store_name: str, table: str, pairs: Sequence[tuple[str, str]]
) -> Item | None:
    key = _key_of(settings.table(table), table, pairs)
    store = open_store(settings, store_name)
    try:
        return await store.get(table, key)
    finally:
        await store.close()


def _key_of(spec: TableSpec, table: str, pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The key `name=value` pairs give: each of the table's key attributes exactly once."""
    names = [name for name, _ in pairs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"{', '.join(repeated)}: a key attribute given more than once")
    key = dict(pairs)
    missing = set(spec.key_attributes) - set(key)
    if missing:
        raise ConfigError(f"give every key attribute: missing {', '.join(sorted(missing))}")
    unknown = set(key) - set(spec.key_attributes)
    if unknown:
        raise ConfigError(
            f"{', '.join(sorted(unknown))}: not a key attribute of {table!r} "
            f"(its key: {', '.join(spec.key_attributes)})"
        )
    return key


async def list_items(
    settings: Settings, store_name: str, table: str, partition: str, limit: int
) -> list[Item]:
    if settings.table(table).index_attribute is None:
        raise ConfigError(
            f"table {table!r} has no index_attribute in CDC_TABLES: list needs one to order by"
        )
    store = open_store(settings, store_name)
    try:
        return await store.list_partition(table, partition, limit)
    finally:
        await store.close()


async def lag_report(
    settings: Settings, groups: Sequence[str], samples: int, interval: float
) -> dict[str, Any]:
    """Every group on every topic it consumes (Debezium topics too), watched over the same
    window; the status is the worst of theirs."""
    kafka = Kafka.of(settings)
    topics = await consumed_topics(kafka, settings.tables, settings.topic)
    pairs = [(group, topic) for group in groups for topic in topics]
    watched = await asyncio.gather(
        *(watch_group(kafka, group, topic, samples, interval) for group, topic in pairs)
    )
    reports = [
        _group_report(group, topic, taken, status)
        for (group, topic), (taken, status) in zip(pairs, watched, strict=True)
    ]
    return {
        "topic": settings.topic,
        "status": worst_status(status for _, status in watched).value,
        "groups": reports,
    }


def _group_report(
    group: str, topic: str, taken: list[GroupSample], status: Status
) -> dict[str, Any]:
    last = taken[-1]
    return {
        "group": group,
        "topic": topic,
        "status": status.value,
        "members": last.members,
        "lag": last.lag,
        "partitions": [
            {
                "partition": p.partition,
                "committed": p.committed,
                "end": p.end,
                "lag": p.lag,
                "lag_seconds": round(p.lag_seconds(last.taken_ms), 3),
            }
            for p in last.partitions
        ],
    }


def print_lag(report: dict[str, Any]) -> None:
    for n, group in enumerate(report["groups"]):
        if n:
            print()
        members, lag = counted(group["members"], "member"), counted(group["lag"], "message")
        status = f"{group['status']}, {members}, lag {lag}"
        print(f"group {group['group']} on {group['topic']}: {status}")
        print(f"{'partition':>9} {'committed':>10} {'end':>10} {'lag':>8} {'lag s':>8}")
        for p in group["partitions"]:
            committed = "-" if p["committed"] is None else p["committed"]
            row = f"{p['partition']:>9} {committed:>10} {p['end']:>10} {p['lag']:>8}"
            print(f"{row} {p['lag_seconds']:>8.1f}")


async def rebuild_store(
    settings: Settings, store_name: str, from_time: datetime | None, allow_partial: bool = False
) -> int:
    await check_topic(settings)  # warnings on stderr; a missing topic stops here
    await prepare_store(settings, store_name)  # DynamoDB's tables, a Redis layout's slots
    store = open_store(settings, store_name)
    try:
        with progress_reporter(f"rebuild {store_name}", None) as progress:
            summary = await rebuild(
                settings, store, from_time=from_time, on_progress=progress,
                allow_partial=allow_partial,
            )  # fmt: skip
    finally:
        await store.close()
    print(
        f"replayed {summary.records:,} records into {store_name} in {summary.seconds:.1f}s "
        f"({summary.rate:,.0f}/s): {summary.applied:,} applied, {summary.stale:,} already newer, "
        f"{summary.invalid:,} invalid (dead-lettered before); group {summary.group}"
    )
    return 0
