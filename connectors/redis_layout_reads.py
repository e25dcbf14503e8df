"""Reads of the `hash` and `template` layouts: get, list, and what verify compares."""

import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from connectors.redis_expiry import stale_members
from connectors.redis_layouts import ItemLayout
from connectors.sink import Item, StoredItem, listing_order
from streams.model.events import ItemId


async def read_many(
    client: Any, layout: ItemLayout, items: Sequence[ItemId]
) -> list[StoredItem | None]:
    """Versions and data of many items of one table in one round trip (tombstones included)."""
    pipe = client.pipeline(transaction=False)
    for item in items:
        layout.queue_read(pipe, item)
    replies = await pipe.execute()
    n = layout.replies_per_item()
    now = time.time()
    return [layout.parse(replies[i : i + n], now) for i in range(0, len(replies), n)]


async def get(client: Any, layout: ItemLayout, item: ItemId) -> Item | None:
    (stored,) = await read_many(client, layout, [item])
    if stored is None or stored.data is None:
        return None
    return {**item.key(layout.spec), **stored.data}


async def list_partition(client: Any, layout: ItemLayout, partition: str, limit: int) -> list[Item]:
    index = layout.index(partition)
    if index is None:
        return []
    wanted = limit + await stale_members(client, layout.spec, layout.expiries(index))
    top: list[Any] = await client.zrevrange(index, 0, wanted - 1, withscores=True)
    members = {member for member, _ in top}
    if len(top) == wanted:  # ties with the last one, past the limit, may come first
        last = float(top[-1][1])
        members.update(await client.zrangebyscore(index, last, last))
    sorts = [layout.sort_of(member.decode()) for member in members]
    items = [ItemId(layout.table, partition, sort) for sort in sorts if sort is not None]
    stored = await read_many(client, layout, items)
    listed = [
        {**item.key(layout.spec), **held.data}
        for item, held in zip(items, stored, strict=True)
        if held is not None and held.data is not None
    ]
    return listing_order(listed, layout.spec, limit)


async def item_ids(
    client: Any, prefix: str, table: str, page_size: int
) -> AsyncIterator[list[ItemId]]:
    """Every item of `table` Redis holds (tombstones included), found by its bookkeeping hash,
    which names the item (a key template cannot always be read back)."""
    cursor = 0
    while True:
        cursor, keys = await client.scan(
            cursor, match=f"{prefix}:v:*", count=page_size, _type="hash"
        )
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "k")
        named = [ItemId(*json.loads(k)) for k in await pipe.execute() if k is not None]
        yield [item for item in named if item.table == table]
        if not cursor:
            return
