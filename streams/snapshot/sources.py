"""Snapshot sources as the commands open them, and where their checkpoints live."""

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

import redis.asyncio as aioredis

from connectors.dynamodb.source import DynamoDBSource
from connectors.redis.legacy_source import LegacyLayout, RedisLegacySource, generate_legacy_data
from connectors.redis.templates import any_key
from connectors.sources.jsonl import JsonLinesSource
from connectors.sources.postgres import PostgresSource
from connectors.sources.snapshot_source import WHOLE, Part, SnapshotSource
from streams.model.errors import ConfigError
from streams.model.redis_key_space import key_templates
from streams.model.tables import TableSpec
from streams.settings_parts import (
    DeclaredTables,
    RedisSettings,
    SourceSettings,
    TopicSettings,
    revealed,
)
from streams.snapshot.options import LegacyDataOptions, SourceOptions
from streams.stores import dynamodb_client


def legacy_client(redis: RedisSettings, url: str | None) -> "aioredis.Redis":
    """The legacy Redis (default CDC_REDIS_URL), with CDC_REDIS_PASSWORD unless the URL holds
    one: a password need never be on a command line, where `ps` shows it."""
    password = revealed(redis.password)
    return aioredis.from_url(url or redis.url, password=password)


def check_source(tables: DeclaredTables, source: SourceOptions) -> None:
    """Refuse the options a source cannot be read with, before anything connects or writes."""
    spec = tables.table(source.table)
    if source.name == "redis-legacy":
        source.legacy.layout(source.table).check(spec)
    elif source.name == "jsonl":
        _jsonl_file(source)
    elif source.name == "postgres" and spec.format != "debezium":
        raise ConfigError(f"--source postgres: table {source.table!r} is not fed by Debezium")


def open_source(
    sources: SourceSettings, source: SourceOptions, part: Part = WHOLE
) -> SnapshotSource:
    check_source(sources.tables, source)
    spec = sources.tables.table(source.table)
    if source.name == "redis-legacy":
        client = legacy_client(sources.redis, source.legacy.url)
        layout = source.legacy.layout(source.table)
        foreign = foreign_keys(sources.tables, sources.redis.key_prefix, layout)
        return RedisLegacySource(
            client, spec, layout, chunk_items=source.chunk, part=part, foreign=foreign
        )
    if source.name == "dynamodb":
        segments, page = source.segments, max(1, source.chunk // source.segments)
        return DynamoDBSource(
            dynamodb_client(sources.dynamodb), source.table, spec,
            segments=segments, page_items=page, part=part,
        )  # fmt: skip
    if source.name == "postgres":  # the table Debezium reads, through the table's mapping
        return PostgresSource(sources.postgres_url, source.table, spec, source.chunk, part)
    return JsonLinesSource(_jsonl_file(source), chunk_items=source.chunk, part=part)


def foreign_keys(
    tables: Mapping[str, TableSpec], prefix: str, layout: LegacyLayout
) -> re.Pattern[str]:
    """The keys the legacy source must never read as owners' sorted sets: the replicator's own
    (bookkeeping, expiries, the `cdc` layout's), and the listings of the declared layouts
    other than the one it reads (a `hash` layout's `opponents:idx:{...}`, say)."""
    templates = [
        f"{prefix}:v:{{k}}",
        f"{prefix}:x:{{k}}",
        f"{prefix}:{{{{k}}",
        f"{prefix}:layouts",
    ]
    for name, spec in tables.items():
        if spec.redis.layout != "cdc":
            listing = key_templates(name, spec).index_key
            if listing and listing != layout.zset_pattern:
                templates.append(listing)
    return any_key(templates)


def _jsonl_file(source: SourceOptions) -> Path:
    if source.file is None:
        raise ConfigError("--source jsonl needs --file")
    return Path(source.file)


def default_checkpoint(changes: TopicSettings, stack_dir: str, source: SourceOptions) -> Path:
    """One checkpoint per source, target topic and source location."""
    legacy = source.legacy
    where = (
        f"{source.name}|{changes.name}|{source.table}|{legacy.url}|{source.file}|"
        f"{legacy.zset_pattern}"
    )
    tag = hashlib.blake2b(where.encode(), digest_size=6).hexdigest()
    return Path(stack_dir) / "snapshots" / f"{source.name}-{tag}.json"


async def generate_legacy_dataset(sources: SourceSettings, options: LegacyDataOptions) -> int:
    """Write a synthetic legacy dataset (for trying a snapshot); the number of items written."""
    spec = sources.tables.table(options.table)
    layout = options.legacy.layout(options.table)
    layout.check(spec)  # before connecting: nothing written with a literal {owner_id}
    client = legacy_client(sources.redis, options.legacy.url)
    try:
        return await generate_legacy_data(
            client, spec, owners=options.owners, per_owner=options.per_owner, layout=layout
        )
    finally:
        await client.aclose()
