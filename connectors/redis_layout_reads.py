"""Reads of the `hash` and `template` layouts: get, list, and what verify compares."""

import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from connectors.redis_expiry import stale_members
from connectors.redis_layouts import ItemLayout
from connectors.sink import Item, StoredItem, Strays, listing_order
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
    client: Any, layout: ItemLayout, page_size: int, strays: Strays | None = None
) -> AsyncIterator[list[ItemId]]:
    """Every item of the layout's table Redis holds (tombstones included), once per page, found
    by its bookkeeping hash, which names the item (a key template cannot always be read back).
    A bookkeeping hash that is not where this layout keeps the item's is a stray."""
    cursor = 0
    while True:
        cursor, keys = await client.scan(
            cursor, match=f"{layout.prefix}:v:*", count=page_size, _type="hash"
        )
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "k")
        page: dict[ItemId, None] = {}
        for key, named in zip(keys, await pipe.execute(), strict=True):
            item = ItemId(*json.loads(named)) if named is not None else None
            if item is None or item.table != layout.table:
                continue
            if key.decode() == layout.book_key(item):
                page[item] = None
            elif strays is not None:
                strays.add(key.decode(errors="replace"))
        yield list(page)
        if not cursor:
            return
