"""Reads of the `cdc` layout (see connectors/redis_store.py): get, list, and what verify
compares. connectors/redis_layout_reads.py reads the other layouts."""

from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import unquote

from connectors.redis_expiry import stale_members, unread
from connectors.redis_keys import RedisKeys
from connectors.sink import Item, StoredItem, listing_order
from streams.model.events import ItemId
from streams.model.numbers import loads, plain
from streams.model.tables import TableSpec


async def get(client: Any, keys: RedisKeys, spec: TableSpec, item: ItemId) -> Item | None:
    found: list[Any] = await client.hmget(keys.item(item), ["d", "x"])
    return None if unread(*found) else _as_item(spec, item, _bytes(found[0]))


async def list_partition(
    client: Any, keys: RedisKeys, spec: TableSpec, table: str, partition: str, *, limit: int
) -> list[Item]:
    index = keys.index(table, partition)
    wanted = limit + await stale_members(client, spec, keys.expiries(table, partition))
    top: list[Any] = await client.zrevrange(index, 0, wanted - 1, withscores=True)
    names = {_bytes(member) for member, _ in top}
    if len(top) == wanted:  # ties with the last one, past the limit, may come first
        last = float(top[-1][1])
        names.update(map(_bytes, await client.zrangebyscore(index, last, last)))
    items = [ItemId(table, partition, unquote(name.decode())) for name in names]
    pipe = client.pipeline(transaction=False)
    for item in items:
        pipe.hmget(keys.item(item), ["d", "x"])
    found = await pipe.execute()
    held = [(i, d) for i, (d, x) in zip(items, found, strict=True) if not unread(d, x)]
    listed = [_as_item(spec, i, d) for i, d in held]
    return listing_order(listed, spec, limit)


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
