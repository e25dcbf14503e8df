"""Last-writer-wins arithmetic: pure functions for the replicator, the stores' tests and verify."""

from collections.abc import Iterable, Mapping

from streams.model.events import ChangeEvent, ItemId
from streams.model.partial import as_write, held_of, join
from streams.model.tables import TableSpec


def coalesce(
    events: Iterable[ChangeEvent], tables: Mapping[str, TableSpec]
) -> dict[ItemId, ChangeEvent]:
    """The one write a store must see per item: the greatest version; when that one is a
    partial upsert, with what the batch's older writes of the item carried of its unchanged
    attributes (streams/model/partial.py)."""
    winners: dict[ItemId, ChangeEvent] = {}
    for event in events:
        item = event.item_id(tables[event.table])
        current = winners.get(item)
        if current is None:
            winners[item] = event
        elif event.unchanged is None and current.unchanged is None:  # whole writes: the newest
            if event.version > current.version:
                winners[item] = event
        else:
            winners[item] = joined(current, event)
    return winners


def joined(a: ChangeEvent, b: ChangeEvent) -> ChangeEvent:
    """Two writes of one item as one: the newer, unless it is partial and the older one
    carries some of what it left unchanged."""
    newer = a if a.version >= b.version else b
    if newer.op == "delete" or newer.unchanged is None:
        return newer  # it settles every attribute itself
    return as_write(newer, join(held_of(a), held_of(b)))
