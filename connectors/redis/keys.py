"""Key names of the `cdc` Redis layout (see connectors/redis/store.py): the only place that
knows them. Key values are percent-encoded, so distinct keys never collide and no value can
break out of the `{...}` hash tag."""

import re
from urllib.parse import quote, unquote

from streams.model.events import ItemId

_ITEM_KEY = re.compile(
    r"(?P<prefix>[^:]+):\{(?P<table>[^:}]*):(?P<partition>[^}]*)\}:i:(?P<sort>.*)"
)


_NEEDS_NO_QUOTING = re.compile(r"[A-Za-z0-9_.~-]*")


def quoted(value: str) -> str:
    # Most key values need no escaping; the check is several times cheaper than quote().
    return value if _NEEDS_NO_QUOTING.fullmatch(value) else quote(value, safe="")


class RedisKeys:
    """Key names for one prefix; the only place that knows the layout."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def partition(self, table: str, partition: str) -> str:
        return f"{self.prefix}:{{{quoted(table)}:{quoted(partition)}}}"

    def item(self, item: ItemId) -> str:
        return f"{self.partition(item.table, item.partition)}:i:{quoted(item.sort)}"

    def item_keys(self, item: ItemId) -> tuple[str, str, str, str]:
        """The item's key, its partition's index and expiries keys, and its member in the
        index, each value quoted once: a write needs all four."""
        partition = self.partition(item.table, item.partition)
        member = quoted(item.sort)
        return f"{partition}:i:{member}", f"{partition}:idx", f"{partition}:x", member

    def index(self, table: str, partition: str) -> str:
        return f"{self.partition(table, partition)}:idx"

    def expiries(self, table: str, partition: str) -> str:
        """The index members' expiries, for a table that declares one."""
        return f"{self.partition(table, partition)}:x"

    def item_pattern(self, table: str) -> str:
        """A SCAN pattern for every item key of `table` (quoted names hold no glob characters
        but '%', which is not one)."""
        return f"{self.prefix}:{{{quoted(table)}:*}}:i:*"

    def parse_item(self, key: str) -> ItemId | None:
        match = _ITEM_KEY.fullmatch(key)
        if match is None or match["prefix"] != self.prefix:
            return None
        return ItemId(unquote(match["table"]), unquote(match["partition"]), unquote(match["sort"]))
