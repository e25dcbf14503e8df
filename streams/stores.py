"""The stores a worker or a command can name, by name: how each is opened from settings, what it
needs before a worker writes to it, and what follows a rebuild. A new store is its package under
connectors/, its opener here, and one line in STORES."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
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
from streams.model.tables import TableSpec
from streams.settings import Settings
from streams.settings_parts import DynamoDBSettings, RedisSettings, revealed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)


async def _nothing_to_prepare(settings: Settings, rebuild: bool) -> None:
    return None


async def _nothing_after_rebuild(settings: Settings) -> None:
    return None


@dataclass(frozen=True)
class StoreKind:
    """One store as the worker and the commands know it. Each callable is handed the whole
    Settings and reads its own store's part (as a Kafka Connect connector reads its keys of
    the whole config), so a new store needs no new parameter anywhere.

    `prepare(settings, rebuild)` runs before a worker (or a rebuild, `rebuild` True when from
    the beginning) writes to it; `rebuilt` after a rebuild from the beginning; `refill` says,
    when a rebuild cannot restore the whole history, where else its data can come from."""

    open: Callable[[Settings], Store]
    prepare: Callable[[Settings, bool], Awaitable[None]] = _nothing_to_prepare
    rebuilt: Callable[[Settings], Awaitable[None]] = _nothing_after_rebuild
    refill: str = "refill it from the data's source (`cdc-replicator snapshot`)"


def open_redis(settings: Settings) -> RedisStore:
    redis = settings.redis
    return RedisStore.from_url(
        redis.url,
        settings.tables,
        password=revealed(redis.password),
        key_prefix=redis.key_prefix,
        tombstone_grace_seconds=settings.changes.tombstone_grace_seconds,
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
        tombstone_grace_seconds=settings.changes.tombstone_grace_seconds,
        write_mode=settings.dynamodb.write_mode,
    )


def store_kind(name: str) -> StoreKind:
    try:
        return STORES[name]
    except KeyError:
        raise ValueError(f"unknown store {name!r}; choose from {', '.join(STORES)}") from None


def register_store(name: str, kind: StoreKind) -> None:
    """Make `name` a store the worker and the commands can open (tests register toys)."""
    STORES[name] = kind


def open_store(settings: Settings, name: str) -> Store:
    return store_kind(name).open(settings)


StoreOpener = Callable[[str], Store]  # a store by name, its settings already bound


def store_opener(settings: Settings) -> StoreOpener:
    """What code below the CLI receives to open stores, instead of the whole Settings."""
    return partial(open_store, settings)


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


def ensure_tables(dynamodb: DynamoDBSettings, tables: Mapping[str, TableSpec]) -> list[str]:
    """Create every declared DynamoDB table that is missing; return the names created."""
    client = dynamodb_client(dynamodb)
    try:
        return [
            spec.physical_name(name)
            for name, spec in tables.items()
            if ensure_table(client, spec.physical_name(name), spec)
        ]
    finally:
        client.close()


def check_redis_layouts(redis: RedisSettings, tables: Mapping[str, TableSpec]) -> None:
    """On a Redis Cluster, refuse a layout whose keys of one item may land on different slots:
    the script that writes them would fail for every item."""
    if not redis.url.split("://", 1)[0].endswith("+cluster"):
        return
    for name, spec in tables.items():
        if spec.redis.layout != "cdc":
            problem = cluster_problem(ItemLayout(name, spec, redis.key_prefix))
            if problem:
                raise StoreSchemaError(f"CDC_REDIS_URL is a Redis Cluster, but {problem}")


async def prepare_store(settings: Settings, name: str, *, rebuild: bool = False) -> None:
    """What a store needs before the worker writes to it (`StoreKind.prepare`)."""
    await store_kind(name).prepare(settings, rebuild)


async def prepare_redis(settings: Settings, rebuild: bool) -> None:
    """A layout its server can hold, the same as it was written in (not for a rebuild from the
    beginning, which writes the table where its layout keeps it now, then records it:
    `adopt_redis_layouts`)."""
    check_redis_layouts(settings.redis, settings.tables)
    if not rebuild:
        await record_redis_layouts(settings, adopt=False)


async def prepare_dynamodb(settings: Settings, rebuild: bool) -> None:
    """Its tables, created where missing."""
    warning = local_transact_warning(settings.dynamodb)
    if warning:
        log.warning(warning)
    created = await asyncio.to_thread(ensure_tables, settings.dynamodb, settings.tables)
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
        await check_layouts(store.client, settings.tables, settings.redis.key_prefix, adopt=adopt)
    finally:
        await store.close()


async def adopt_redis_layouts(settings: Settings) -> None:
    await record_redis_layouts(settings, adopt=True)


STORES: dict[str, StoreKind] = {
    "redis": StoreKind(
        open_redis,
        prepare_redis,
        adopt_redis_layouts,
        refill="refill Redis from DynamoDB with `cdc-replicator snapshot --source dynamodb`",
    ),
    "dynamodb": StoreKind(
        open_dynamodb,
        prepare_dynamodb,
        refill="refill DynamoDB from Redis with `cdc-replicator verify --repair` (a running "
        "worker applies what it republishes) or from the data's source (`cdc-replicator "
        "snapshot`)",
    ),
}
# The built-in stores, in the order a worker feeds them (the first dead-letters malformed records).
STORE_NAMES = tuple(STORES)
