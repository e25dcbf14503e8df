"""A partition's listing read from its sorted set, for every Redis layout.

Members are read greatest score first, a page at a time, until `limit` items are found or the
set ends: a member may have no item behind it (one the application added without its key, one
past its expiry that the next write removes), and a listing still fills its limit. Items are
ordered by their score, as a reader of the sorted set sees them, equal ones by sort key.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.store import Item

MAX_PAGE = 10_000
# What the members of a page hold: an item, or why it cannot be read; a member without an
# item is absent.
ReadMembers = Callable[[list[bytes]], Awaitable[dict[bytes, Item | str]]]


@dataclass
class Listing:
    items: list[Item]
    problems: list[str] = field(default_factory=list)  # unreadable members, each naming its key


async def read_listing(
    client: Any, index: str, limit: int, read: ReadMembers, sort_key: str
) -> Listing:
    found: dict[bytes, tuple[float, Item]] = {}
    problems: dict[bytes, str] = {}
    start, page = 0, limit
    while True:
        top: list[tuple[bytes, float]] = await client.zrevrange(
            index, start, start + page - 1, withscores=True
        )
        _take(top, await read([member for member, _ in top]), found, problems)
        start += len(top)
        if len(found) >= limit or len(top) < page:
            break
        page = min(page * 2, MAX_PAGE)
    if len(found) >= limit and top:  # ties with the last member read, past it, may come first
        last = top[-1][1]
        seen = {member for member, _ in top} | found.keys() | problems.keys()
        ties = [m for m in await client.zrangebyscore(index, last, last) if m not in seen]
        _take([(member, last) for member in ties], await read(ties), found, problems)
    ordered = sorted(found.values(), key=lambda held: (-held[0], held[1][sort_key]))
    return Listing([item for _, item in ordered[:limit]], list(problems.values()))


def _take(
    members: list[tuple[bytes, float]],
    held: dict[bytes, Item | str],
    found: dict[bytes, tuple[float, Item]],
    problems: dict[bytes, str],
) -> None:
    for member, score in members:
        item = held.get(member)
        if isinstance(item, str):
            problems[member] = item
        elif item is not None:
            found[member] = (score, item)
