"""Reads of the `cdc` layout (see connectors/redis/store.py): get, list, and what verify
compares. connectors/redis/layout_reads.py reads the other layouts."""

from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import unquote

from connectors.redis.expiry import unread
from connectors.redis.keys import RedisKeys
from connectors.redis.listing import Listing, read_listing
from connectors.store import Item, StoredItem
from streams.model.events import ItemId
from streams.model.numbers import loads, plain
from streams.model.tables import TableSpec


async def get(client: Any, keys: RedisKeys, spec: TableSpec, item: ItemId) -> Item | None:
    found: list[Any] = await client.hmget(keys.item(item), ["d", "x"])
    return None if unread(*found) else _as_item(spec, item, _bytes(found[0]))


async def list_partition(
    client: Any, keys: RedisKeys, spec: TableSpec, table: str, partition: str, *, limit: int
) -> Listing:
    async def read(members: list[bytes]) -> dict[bytes, Item | str]:
        items = [ItemId(table, partition, unquote(member.decode())) for member in members]
        pipe = client.pipeline(transaction=False)
        for item in items:
            pipe.hmget(keys.item(item), ["d", "x"])
        found = await pipe.execute()
        return {
            member: _as_item(spec, item, d)
            for member, item, (d, x) in zip(members, items, found, strict=True)
            if not unread(d, x)
        }

    index = keys.index(table, partition)
    return await read_listing(client, index, limit, read, spec.sort_key or "")


async def read_many(
    client: Any, keys: RedisKeys, items: Sequence[ItemId]
) -> list[StoredItem | None]:
    """Versions and data of many items in one round trip (tombstones included)."""
    pipe = client.pipeline(transaction=False)
    for item in items:
        pipe.hmget(keys.item(item), ["v", "d", "x"])
    replies = await pipe.execute()
    return [_stored(*reply) for reply in replies]


async def item_ids(
    client: Any, keys: RedisKeys, table: str, page_size: int
) -> AsyncIterator[list[ItemId]]:
    """Every item of `table` Redis holds (tombstones included), a SCAN page at a time."""
    cursor = 0
    while True:
        cursor, found = await client.scan(
            cursor, match=keys.item_pattern(table), count=page_size, _type="hash"
        )
        items = [keys.parse_item(_bytes(key).decode()) for key in found]
        yield [item for item in items if item is not None]
        if not cursor:
            return


def _stored(version: bytes | None, data: bytes | None, expires: bytes | None) -> StoredItem | None:
    if version is None:
        return None
    if data is not None and unread(data, expires):
        return StoredItem(version.decode(), None, expired=True)
    return StoredItem(version.decode(), plain(loads(data)) if data is not None else None)


def _bytes(value: object) -> bytes:
    # Replies are bytes: the client is never created with decode_responses.
    if not isinstance(value, bytes):
        raise TypeError(f"expected bytes from Redis, got {type(value).__name__}")
    return value


def _as_item(spec: TableSpec, item: ItemId, data: bytes) -> Item:
    return {**item.key(spec), **plain(loads(data))}
