"""Reads of the `hash` and `template` layouts: get, list, and what verify compares.

The application writes these keys too, so a read takes nothing for granted: a key another
item owns (its bookkeeping names that item) is not this item's, and bytes that are not UTF-8,
JSON that does not parse or a score no event can carry make the item a problem naming its
key, never a crash nor another item's data."""

import json
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from redis.exceptions import ResponseError

from connectors.redis.errors import wrong_type
from connectors.redis.layouts import ItemLayout
from connectors.redis.listing import Listing, read_listing
from connectors.store import Item, StoredItem, Strays
from streams.model.events import ItemId
from streams.model.expiry import is_past
from streams.model.numbers import loads, of_score, plain

BOOK_FIELDS = ["v", "t", "j", "x", "k"]


async def read_many(
    client: Any, layout: ItemLayout, items: Sequence[ItemId]
) -> list[StoredItem | None]:
    """Versions and data of many items of one table in one round trip (tombstones included)."""
    pipe = client.pipeline(transaction=False)
    for item in items:
        _queue_read(pipe, layout, item)
    replies = await pipe.execute(raise_on_error=False)
    n = replies_per_item(layout)
    now = time.time()
    found: list[StoredItem | None] = []
    for i, item in enumerate(items):
        held = replies[i * n : i * n + n]
        wrong = await _wrong_type(client, layout, item, held)
        found.append(wrong or parse(layout, item, held, now))
    return found


async def _wrong_type(
    client: Any, layout: ItemLayout, item: ItemId, replies: Sequence[Any]
) -> StoredItem | None:
    """The item as a problem naming the key, when one of its keys is of another type than the
    layout's (the application wrote it so): never a crash of the whole read."""
    index = layout.index(item.partition)
    wanted = [(layout.book_key(item), "hash"),
              (layout.data_key(item), "hash" if layout.kind == "hash" else "string"),
              (index or "", "zset")]  # fmt: skip
    for reply, (key, kind) in zip(replies, wanted, strict=False):
        if wrong_type(reply):
            held = (await client.type(key)).decode()
            book = replies[0] if not isinstance(replies[0], ResponseError) else [None]
            version = book[0].decode() if book[0] is not None else ""
            return StoredItem(version, None, problem=f"key {key!r} holds a {held}, not a {kind}")
    return None


def _queue_read(pipe: Any, layout: ItemLayout, item: ItemId) -> None:
    """Queue the reads `parse` takes: bookkeeping, then the data (and the index score)."""
    pipe.hmget(layout.book_key(item), BOOK_FIELDS)
    queue_data(pipe, layout, item)


def replies_per_item(layout: ItemLayout) -> int:
    """The replies `_queue_read` adds per item: bookkeeping, data and maybe the index score."""
    return 2 if layout.kind == "hash" or layout.index_key is None else 3


def queue_data(pipe: Any, layout: ItemLayout, item: ItemId) -> None:
    """Queue the reads of an item's data (and its index score, for a string)."""
    if layout.kind == "hash":
        pipe.hgetall(layout.data_key(item))
    else:
        pipe.get(layout.data_key(item))
        index = layout.index(item.partition)
        if index is not None:
            pipe.zscore(index, layout.member_of(item))


def parse(
    layout: ItemLayout, item: ItemId, replies: Sequence[Any], now: float
) -> StoredItem | None:
    """The item the replies hold; past its expiry (`x`, epoch ms), one without data; one whose
    key another item owns, or whose data cannot be read, a problem naming the key."""
    (version, tombstone, json_fields, expires, owner), held, *score = replies
    gone = tombstone is not None or (expires is not None and is_past(int(expires) / 1000, now))
    if version is None or (owner is not None and owner.decode() != layout.identity(item)):
        return _not_its_own(layout, item, owner, gone) if version is not None else None
    if gone or held is None or held == {}:  # a hash layout's item always has a field
        # Without data: deleted, or expired (by the server's clock, a moment ahead of ours),
        # or its data was deleted behind our back: bookkeeping alone is no item.
        return StoredItem(version.decode(), None, expired=expires is not None and not tombstone)
    try:
        data = _data(layout, held, json_fields, score)
    except ValueError as exc:  # UnicodeDecodeError is one
        return StoredItem(version.decode(), None, problem=f"key {layout.data_key(item)!r}: {exc}")
    return StoredItem(version.decode(), data)


def _not_its_own(layout: ItemLayout, item: ItemId, owner: bytes, gone: bool) -> StoredItem | None:
    """The item, when its key holds another item's bookkeeping: absent, if that item is gone
    (deleted or expired: the key is free), else a problem naming both."""
    if gone:
        return None
    why = f"holds item {owner.decode()}, which renders the same key"
    return StoredItem("", None, problem=f"key {layout.data_key(item)!r} {why}", foreign=True)


def exact_data(layout: ItemLayout, held: Any, json_fields: bytes | None, score: list[Any]) -> Item:
    """An item's data with its numbers as written (`1.50` stays `1.50`), to write it again."""
    return _data(layout, held, json_fields, score, lambda value: value)


def _data(
    layout: ItemLayout, held: Any, json_fields: bytes | None, score: list[Any],
    number: Callable[[Any], Any] = plain,
) -> Item:  # fmt: skip
    if layout.kind == "hash":
        as_json = set(json.loads(json_fields or b"[]"))
        fields = {_text(name, "a field name"): value for name, value in held.items()}
        return {
            name: number(_json(value)) if name in as_json else _text(value, f"field {name!r}")
            for name, value in fields.items()
        }
    if layout.value_attribute is None:
        data = number(_json(held))
        if not isinstance(data, dict):
            raise ValueError(f"holds JSON {type(data).__name__}, not an object of attributes")
        return data
    value = number(_json(held)) if layout.value_json else _text(held, "the value")
    found: Item = {layout.value_attribute: value}
    if score and score[0] is not None and layout.spec.index_attribute:
        found[layout.spec.index_attribute] = _score(float(score[0]), layout)
    return found


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise ValueError(f"{what} is not UTF-8 text: {raw[:40]!r}") from None


def _json(raw: bytes) -> Any:
    try:
        return loads(raw)
    except ValueError:
        raise ValueError(f"not JSON: {raw[:40]!r}") from None


def _score(score: float, layout: ItemLayout) -> Any:
    if not math.isfinite(score):
        name = layout.spec.index_attribute
        raise ValueError(f"its listing score is {score}, which no {name!r} can be")
    return of_score(score)


async def list_partition(client: Any, layout: ItemLayout, partition: str, limit: int) -> Listing:
    index = layout.index(partition)
    if index is None:
        return Listing([])

    async def read(members: list[bytes]) -> dict[bytes, Item | str]:
        named = {member: _sort_of(layout, index, member) for member in members}
        items = {
            member: ItemId(layout.table, partition, sort)
            for member, (sort, _) in named.items()
            if sort is not None
        }
        found: dict[bytes, Item | str] = {
            member: why for member, (sort, why) in named.items() if sort is None
        }
        stored = await read_many(client, layout, list(items.values()))
        for (member, item), held in zip(items.items(), stored, strict=True):
            if held is not None and held.problem:
                found[member] = held.problem
            elif held is not None and held.data is not None:
                found[member] = {**item.key(layout.spec), **held.data}
        return found

    try:
        return await read_listing(client, index, limit, read, layout.spec.sort_key or "")
    except ResponseError as exc:
        if not str(exc).startswith("WRONGTYPE"):
            raise
        held = (await client.type(index)).decode()
        return Listing([], [f"key {index!r} holds a {held}, not a zset"])


def _sort_of(layout: ItemLayout, index: str, member: bytes) -> tuple[str | None, str]:
    """The sort key a member names, or None and why it names none."""
    try:
        sort = layout.sort_of(member.decode())
    except UnicodeDecodeError:
        return None, f"key {index!r}: member {member[:40]!r} is not UTF-8 text"
    if sort is None:
        return None, f"key {index!r}: member {member[:40]!r} does not match {layout.member!r}"
    return sort, ""


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
            if key == layout.book_key(item).encode():
                page[item] = None
            elif strays is not None:
                strays.add(key.decode(errors="replace"))
        yield list(page)
        if not cursor:
            return
