"""What `verify` checks of a Redis listing index: each live item is a member of its partition's
sorted set, scored by its index attribute, as `list` expects. (The `template` layout reads the
index attribute back from the score, so a drift there already shows as different data.)"""

import dataclasses
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from connectors.redis.errors import wrong_type
from connectors.store import StoredItem
from streams.model.events import ItemId

# Where an item should be listed: its partition's sorted set and its member there.
Place = Callable[[ItemId], tuple[str, str]]


async def check_listing(
    client: Any, index_attribute: str, place: Place, held: Mapping[ItemId, StoredItem]
) -> dict[ItemId, StoredItem]:
    """`held`, each live item marked `unlisted` (why) when the index does not list it as its
    data says: one round trip."""
    live = [(item, stored) for item, stored in held.items() if stored.data is not None]
    pipe = client.pipeline(transaction=False)
    for item, _ in live:
        pipe.zscore(*place(item))
    checked = dict(held)
    for (item, stored), score in zip(live, await pipe.execute(raise_on_error=False), strict=True):
        if wrong_type(score):  # the application wrote another type there
            index = place(item)[0]
            problem = f"key {index!r} holds a {(await client.type(index)).decode()}, not a zset"
            checked[item] = dataclasses.replace(stored, problem=problem)
            continue
        why = why_unlisted(index_attribute, (stored.data or {}).get(index_attribute), score)
        if why:
            checked[item] = dataclasses.replace(stored, unlisted=why)
    return checked


def why_unlisted(name: str, value: Any, score: float | None) -> str | None:
    if value is None:
        return None if score is None else f"listed with score {score!r} but has no {name!r}"
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None  # written behind our back: verify reports the data itself
    if score is None:
        return f"not in its partition's listing index ({name!r} {value})"
    if float(value) != score:  # index values are exact doubles (checked at decode)
        return f"listed with score {score!r}, but its {name!r} is {value}"
    return None
