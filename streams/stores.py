"""Open the stores a worker or a command names, from settings."""

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from connectors.dynamodb.api import DynamoDBApi
from connectors.dynamodb.client import make_api, make_client
from connectors.dynamodb.schema import ensure_table
from connectors.dynamodb.store import DynamoDBStore
from connectors.redis.layout_record import check_layouts
from connectors.redis.layouts import ItemLayout, cluster_problem
from connectors.redis.store import RedisStore
from connectors.store import Store
from streams.model.errors import StoreSchemaError
from streams.settings import Settings
from streams.settings_parts import DynamoDBSettings, revealed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)
STORE_NAMES = ("redis", "dynamodb")


def open_redis(settings: Settings) -> RedisStore:
    redis = settings.redis
    return RedisStore.from_url(
        redis.url,
        settings.tables,
        password=revealed(redis.password),
        key_prefix=redis.key_prefix,
        tombstone_grace_seconds=settings.tombstone_grace_seconds,
    )


def open_dynamodb(settings: Settings) -> DynamoDBStore:
    dynamodb = settings.dynamodb
    api = make_api(
        dynamodb.endpoint_url, dynamodb.region, dynamodb.credentials(), dynamodb.concurrency
    )
    return DynamoDBStore(
        api,
        settings.tables,
        concurrency=settings.dynamodb.concurrency,
        tombstone_grace_seconds=settings.tombstone_grace_seconds,
        write_mode=settings.dynamodb.write_mode,
    )


def open_store(settings: Settings, name: str) -> Store:
    if name == "redis":
        return open_redis(settings)
    if name == "dynamodb":
        return open_dynamodb(settings)
    raise ValueError(f"unknown store {name!r}; choose from {', '.join(STORE_NAMES)}")


def dynamodb_api(dynamodb: DynamoDBSettings) -> DynamoDBApi:
    """The store's client (writes and reads)."""
    return make_api(
        dynamodb.endpoint_url, dynamodb.region, dynamodb.credentials(), dynamodb.concurrency
    )


def dynamodb_client(dynamodb: DynamoDBSettings) -> "DynamoDBClient":
    """boto3's client, for table administration, scans and probes."""
    return make_client(
        dynamodb.endpoint_url, dynamodb.region, dynamodb.credentials(), dynamodb.concurrency
    )


def ensure_tables(settings: Settings) -> list[str]:
    """Create every declared DynamoDB table that is missing; return the names created."""
    client = dynamodb_client(settings.dynamodb)
    try:
        return [
            spec.physical_name(name)
            for name, spec in settings.tables.items()
            if ensure_table(client, spec.physical_name(name), spec)
        ]
    finally:
        client.close()


def check_redis_layouts(settings: Settings) -> None:
    """On a Redis Cluster, refuse a layout whose keys of one item may land on different slots:
    the script that writes them would fail for every item."""
    if not settings.redis_url.split("://", 1)[0].endswith("+cluster"):
        return
    for name, spec in settings.tables.items():
        if spec.redis.layout != "cdc":
            problem = cluster_problem(ItemLayout(name, spec, settings.redis_key_prefix))
            if problem:
                raise StoreSchemaError(f"CDC_REDIS_URL is a Redis Cluster, but {problem}")


async def prepare_store(settings: Settings, name: str, *, rebuild: bool = False) -> None:
    """What a store needs before the worker writes to it: Redis a layout its server can hold,
    the same as it was written in (not for a rebuild from the beginning, which writes the
    table where its layout keeps it now, then records it: `record_redis_layouts`), DynamoDB
    its tables."""
    if name == "redis":
        check_redis_layouts(settings)
        if not rebuild:
            await record_redis_layouts(settings, adopt=False)
    if name == "dynamodb":
        warning = local_transact_warning(settings.dynamodb)
        if warning:
            log.warning(warning)
        created = await asyncio.to_thread(ensure_tables, settings)
        if created:
            log.info("created DynamoDB tables %s", ", ".join(created))


def local_transact_warning(dynamodb: DynamoDBSettings) -> str | None:
    """Transactions against a local emulator lose data or fail: say so at start."""
    host = urlsplit(dynamodb.endpoint_url).hostname or ""
    local = host == "localhost" or host.startswith("127.") or host == "::1"
    if dynamodb.write_mode != "transact" or not local:
        return None
    return (
        f"CDC_DYNAMODB_WRITE_MODE=transact against a local emulator ({dynamodb.endpoint_url}): "
        "moto's transactions lose newer versions under concurrency (use it with "
        "CDC_DYNAMODB_CONCURRENCY=1, or put mode), dynalite has none; DynamoDB isolates them"
    )


async def record_redis_layouts(settings: Settings, *, adopt: bool) -> None:
    """Record each table's Redis layout; unless `adopt`, StoreSchemaError when one changed."""
    store = open_redis(settings)
    try:
        await check_layouts(store.client, settings.tables, settings.redis_key_prefix, adopt=adopt)
    finally:
        await store.close()
