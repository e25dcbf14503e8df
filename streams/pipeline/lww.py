"""Last-writer-wins arithmetic: pure functions for the replicator, the sinks' tests and verify."""

from collections.abc import Iterable, Mapping

from streams.model.events import ChangeEvent, ItemId
from streams.model.tables import TableSpec


def coalesce(
    events: Iterable[ChangeEvent], tables: Mapping[str, TableSpec]
) -> dict[ItemId, ChangeEvent]:
    """Keep only the greatest version per item: the one write a store must see."""
    winners: dict[ItemId, ChangeEvent] = {}
    for event in events:
        item = event.item_id(tables[event.table])
        current = winners.get(item)
        if current is None or event.version > current.version:
            winners[item] = event
    return winners
