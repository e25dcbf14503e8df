"""The bodies of `snapshot` and `seed-legacy`: open a source, run, print a summary."""

import argparse
import hashlib
import sys
from pathlib import Path

import redis.asyncio as aioredis

from connectors.dynamodb_source import DynamoDBSource
from connectors.jsonl_source import JsonLinesSource
from connectors.redis_legacy import LegacyLayout, RedisLegacySource, seed_legacy
from connectors.source import SnapshotSource
from streams.errors import ConfigError
from streams.kafka import Kafka
from streams.progress import progress_reporter
from streams.publisher import Publisher
from streams.settings import Settings
from streams.snapshot import Checkpoint, SnapshotSummary, run_snapshot
from streams.stores import dynamodb_client

SOURCES = ("redis-legacy", "dynamodb", "jsonl")


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", default="opponents", help="declared table (default opponents)")
    parser.add_argument("--legacy-url", help="legacy Redis URL (default CDC_REDIS_URL)")
    parser.add_argument("--zset-pattern", default=LegacyLayout.zset_pattern)
    parser.add_argument("--meta-pattern", default=LegacyLayout.meta_pattern)
    parser.add_argument("--meta-format", default="text", choices=["text", "json"])
    parser.add_argument("--file", type=Path, help="JSON Lines file (--source jsonl)")
    parser.add_argument("--segments", type=int, default=4, help="parallel Scan segments (dynamodb)")
    parser.add_argument("--chunk", type=int, default=5000, help="items per checkpointed chunk")


def layout(args: argparse.Namespace) -> LegacyLayout:
    return LegacyLayout(
        table=args.table, zset_pattern=args.zset_pattern, meta_pattern=args.meta_pattern,
        meta_format=args.meta_format,
    )  # fmt: skip


def open_source(settings: Settings, name: str, args: argparse.Namespace) -> SnapshotSource:
    spec = settings.tables.get(args.table)
    if spec is None:
        raise ConfigError(f"table {args.table!r} is not declared in CDC_TABLES")
    if name == "redis-legacy":
        client = aioredis.from_url(args.legacy_url or settings.redis_url)
        return RedisLegacySource(client, spec, layout(args), chunk_items=args.chunk)
    if name == "dynamodb":
        segments, page = args.segments, max(1, args.chunk // args.segments)
        return DynamoDBSource(
            dynamodb_client(settings), args.table, spec, segments=segments, page_items=page
        )
    if args.file is None:
        raise ConfigError("--source jsonl needs --file")
    return JsonLinesSource(args.file, chunk_items=args.chunk)


def default_checkpoint(settings: Settings, name: str, args: argparse.Namespace) -> Path:
    """One checkpoint per source, target topic and source location."""
    where = (
        f"{name}|{settings.topic}|{args.table}|{args.legacy_url}|{args.file}|{args.zset_pattern}"
    )
    tag = hashlib.blake2b(where.encode(), digest_size=6).hexdigest()
    return Path(settings.stack_dir) / "snapshots" / f"{name}-{tag}.json"


async def snapshot(settings: Settings, args: argparse.Namespace) -> int:
    checkpoint = Checkpoint(args.checkpoint or default_checkpoint(settings, args.source, args))
    if checkpoint.load() and not args.resume:
        print(
            f"starting over; {checkpoint.path} holds an earlier run (--resume continues it)",
            file=sys.stderr,
        )
    source = open_source(settings, args.source, args)
    problems = checkpoint.path.with_suffix(".problems.jsonl")
    try:
        total = await source.estimate()
        kafka, topic = Kafka.of(settings), settings.topic
        async with Publisher(kafka, topic, settings.tables, f"snapshot:{args.source}") as publisher:
            with progress_reporter(f"snapshot {args.source}", total) as progress:
                summary = await run_snapshot(
                    source, publisher, settings.tables, checkpoint, resume=args.resume,
                    max_rate=args.max_rate, on_progress=progress.snapshot, problems_file=problems,
                )  # fmt: skip
    finally:
        await source.close()
    print_summary(summary, problems)
    return 0


def print_summary(summary: SnapshotSummary, problems: Path) -> None:
    counts = summary.counts
    print(
        f"published {counts['published']:,} items in {summary.seconds:.1f}s "
        f"({summary.rate:,.0f}/s this run), {counts['problems']:,} problems"
    )
    for problem in summary.samples:
        print(f"  problem: {problem.key}: {problem.reason}")
    if counts["problems"]:
        print(f"  every problem is listed in {problems}")


async def seed(settings: Settings, args: argparse.Namespace) -> int:
    spec = settings.tables[args.table]
    client = aioredis.from_url(args.legacy_url or settings.redis_url)
    try:
        count = await seed_legacy(
            client, spec, owners=args.owners, per_owner=args.per_owner, layout=layout(args)
        )
    finally:
        await client.aclose()
    print(f"wrote {count:,} legacy items ({args.owners:,} owners x {args.per_owner:,})")
    return 0
