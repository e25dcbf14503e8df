"""Snapshot sources as the commands open them: their arguments, and where checkpoints live."""

import argparse
import hashlib
from pathlib import Path

import redis.asyncio as aioredis

from connectors.dynamodb_source import DynamoDBSource
from connectors.jsonl_source import JsonLinesSource
from connectors.postgres_source import PostgresSource
from connectors.redis_legacy import LegacyLayout, RedisLegacySource
from connectors.source import WHOLE, Part, SnapshotSource
from streams.cli.arguments import positive_int, redis_url
from streams.model.errors import ConfigError
from streams.settings import Settings
from streams.stores import dynamodb_client

SOURCES = ("redis-legacy", "dynamodb", "jsonl", "postgres")


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", default="opponents", help="declared table (default opponents)")
    parser.add_argument(
        "--legacy-url", type=redis_url, help="legacy Redis URL (default CDC_REDIS_URL)"
    )
    parser.add_argument("--zset-pattern", default=LegacyLayout.zset_pattern)
    parser.add_argument("--meta-pattern", default=LegacyLayout.meta_pattern)
    parser.add_argument("--meta-format", default="text", choices=["text", "json"])
    parser.add_argument("--file", type=Path, help="JSON Lines file (--source jsonl)")
    parser.add_argument("--segments", type=positive_int, default=4,
                        help="parallel Scan segments (dynamodb)")  # fmt: skip
    parser.add_argument("--chunk", type=positive_int, default=5000,
                        help="items per checkpointed chunk")  # fmt: skip


def part_argument(text: str) -> Part:
    try:
        return Part.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def layout(args: argparse.Namespace) -> LegacyLayout:
    return LegacyLayout(
        table=args.table, zset_pattern=args.zset_pattern, meta_pattern=args.meta_pattern,
        meta_format=args.meta_format,
    )  # fmt: skip


def legacy_client(settings: Settings, url: str | None) -> "aioredis.Redis":
    """The legacy Redis (default CDC_REDIS_URL), with CDC_REDIS_PASSWORD unless the URL holds
    one: a password need never be on a command line, where `ps` shows it."""
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return aioredis.from_url(url or settings.redis_url, password=password)


def check_source(settings: Settings, name: str, args: argparse.Namespace) -> None:
    """Refuse the arguments a source cannot be read with, before anything connects or writes."""
    spec = settings.table(args.table)
    if name == "redis-legacy":
        layout(args).check(spec)
    elif name == "jsonl":
        _jsonl_file(args)
    elif name == "postgres" and spec.format != "debezium":
        raise ConfigError(f"--source postgres: table {args.table!r} is not fed by Debezium")


def open_source(
    settings: Settings, name: str, args: argparse.Namespace, part: Part = WHOLE
) -> SnapshotSource:
    check_source(settings, name, args)
    spec = settings.table(args.table)
    if name == "redis-legacy":
        client = legacy_client(settings, args.legacy_url)
        return RedisLegacySource(client, spec, layout(args), chunk_items=args.chunk, part=part)
    if name == "dynamodb":
        segments, page = args.segments, max(1, args.chunk // args.segments)
        return DynamoDBSource(
            dynamodb_client(settings), args.table, spec, segments=segments, page_items=page,
            part=part,
        )  # fmt: skip
    if name == "postgres":  # the table Debezium reads, through the table's mapping
        return PostgresSource(settings.postgres_url, args.table, spec, args.chunk, part)
    return JsonLinesSource(_jsonl_file(args), chunk_items=args.chunk, part=part)


def _jsonl_file(args: argparse.Namespace) -> Path:
    if args.file is None:
        raise ConfigError("--source jsonl needs --file")
    return Path(args.file)


def default_checkpoint(settings: Settings, name: str, args: argparse.Namespace) -> Path:
    """One checkpoint per source, target topic and source location."""
    where = (
        f"{name}|{settings.topic}|{args.table}|{args.legacy_url}|{args.file}|{args.zset_pattern}"
    )
    tag = hashlib.blake2b(where.encode(), digest_size=6).hexdigest()
    return Path(settings.stack_dir) / "snapshots" / f"{name}-{tag}.json"
