"""The `hash` and `template` Redis layouts: items written as their readers already read them.

    hash      <key>        hash    one field per attribute: strings as they are, numbers as
                                   their exact decimal text, anything else as JSON
    template  <key>        string  the value attribute (text, or JSON), or the data as JSON
    both      <index_key>  zset    member <member>, score = the index attribute
              <prefix>:v:<key>  hash  bookkeeping: v version, k identity, j fields held as
                                   JSON, t tombstone (then it expires after the grace period),
                                   x the expiry in epoch ms (then it expires that much later)
              <prefix>:x:<index_key>  zset  members' expiries, for a table that declares one

The bookkeeping hash shares the data key's hash tag, so one script per item compares versions
and writes all of them atomically, on one server or a Redis Cluster slot.
"""

import json
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from connectors.redis_templates import fill, hash_tag, parser, unescape
from connectors.sink import Item, StoredItem
from streams.model.events import ChangeEvent, ItemId
from streams.model.expiry import expires_at, is_past
from streams.model.numbers import dumps, loads, of_score, plain
from streams.model.tables import TableSpec

# Both LWW scripts compare versions and expire items with the same Lua functions, loaded ahead.
SHARED_LUA = "\n".join(
    files("connectors").joinpath(name).read_text() for name in ("version_order.lua", "expiry.lua")
)
LAYOUT_SCRIPT = SHARED_LUA + files("connectors").joinpath("redis_layout.lua").read_text()
ScriptCall = tuple[list[str], list[Any]]


class ItemLayout:
    """Key names and values of one table in the `hash` or `template` layout."""

    def __init__(self, table: str, spec: TableSpec, prefix: str) -> None:
        declared = spec.redis
        self.table, self.spec, self.prefix = table, spec, prefix
        self.kind = "hash" if declared.layout == "hash" else "string"
        tagged = f"{{{{{spec.partition_key}}}}}"  # {{owner_id}}: a hash tag per partition
        sort = f":{{{spec.sort_key}}}" if spec.sort_key else ""
        self.key = declared.key or f"{table}:{tagged}{sort}"
        self.index_key = (
            (declared.index_key or f"{table}:idx:{tagged}") if spec.index_attribute else None
        )
        self.member = declared.member or f"{{{spec.sort_key}}}"
        self.value_attribute = declared.value_attribute
        self.value_json = declared.value_format == "json"
        self._member_parser = parser(self.member, spec.sort_key or "")

    def templates(self) -> list[str]:
        return [self.key, *([self.index_key] if self.index_key else [])]

    def data_key(self, item: ItemId) -> str:
        return fill(self.key, item.key(self.spec))

    def book_key(self, item: ItemId) -> str:
        return f"{self.prefix}:v:{self.data_key(item)}"

    def index(self, partition: str) -> str | None:
        if self.index_key is None:
            return None
        return fill(self.index_key, {self.spec.partition_key: partition})

    def expiries(self, index: str) -> str:
        """The sorted set of the index members' expiries (connectors/expiry.lua)."""
        return f"{self.prefix}:x:{index}"

    def member_of(self, item: ItemId) -> str:
        return fill(self.member, item.key(self.spec))

    def sort_of(self, member: str) -> str | None:
        match = self._member_parser.fullmatch(member)
        return unescape(match["value"]) if match else None

    def problem(self, event: ChangeEvent) -> str | None:
        """Why this layout cannot hold the upsert, or None. Decoding refuses such an event
        (streams/model/redis_layout_spec.py); this guards writes that skipped it."""
        if event.op == "delete":
            return None
        return self.spec.redis.cannot_hold(self.table, event.data or {}, self.spec.index_attribute)

    def call(self, writes: Sequence[tuple[ItemId, ChangeEvent]], tombstone_ms: int) -> ScriptCall:
        keys: list[str] = []
        args: list[Any] = [tombstone_ms, "1" if self.spec.expiry else ""]
        for item, event in writes:
            data_key, index = self.data_key(item), self.index(item.partition)
            expiries = self.expiries(index) if index else data_key
            keys += (f"{self.prefix}:v:{data_key}", data_key, index or data_key, expiries)
            data = event.data or {}
            score = data.get(self.spec.index_attribute) if self.spec.index_attribute else None
            json_fields, values = self._values(data) if event.op == "upsert" else ([], [])
            expires = expires_at(self.spec.expiry, event.data, event.ts)
            args += (
                event.version.token(),
                "fill" if event.version.fills_only else event.op,
                self.kind,
                repr(float(score)) if score is not None else "",
                self.member_of(item) if index else "",
                json.dumps(item),
                json.dumps(json_fields),
                "" if expires is None else expires * 1000,
                len(values),
                *values,
            )
        return keys, args

    def _values(self, data: dict[str, Any]) -> tuple[list[str], list[str | bytes]]:
        if self.kind == "string":
            value = data if self.value_attribute is None else data[self.value_attribute]
            if isinstance(value, str) and not self.value_json:
                return [], [value]
            return [], [dumps(value)]
        as_json = [name for name, value in data.items() if not isinstance(value, str)]
        pairs: list[str | bytes] = []
        for name, value in data.items():
            pairs += (name, value if isinstance(value, str) else dumps(value))
        return as_json, pairs

    def queue_read(self, pipe: Any, item: ItemId) -> None:
        """Queue the reads `parse` takes: bookkeeping, then the data (and the index score)."""
        pipe.hmget(self.book_key(item), ["v", "t", "j", "x"])
        if self.kind == "hash":
            pipe.hgetall(self.data_key(item))
        else:
            pipe.get(self.data_key(item))
            index = self.index(item.partition)
            if index is not None:
                pipe.zscore(index, self.member_of(item))

    def replies_per_item(self) -> int:
        return 2 if self.kind == "hash" or self.index_key is None else 3

    def parse(self, replies: Sequence[Any], now: float) -> StoredItem | None:
        """The item the replies hold; past its expiry (`x`, epoch ms), one without data."""
        (version, tombstone, json_fields, expires), held, *score = replies
        if version is None:
            return None
        if tombstone is not None:
            return StoredItem(version.decode(), None)
        if expires is not None and is_past(int(expires) / 1000, now):
            return StoredItem(version.decode(), None, expired=True)
        if held is None or held == {}:  # a hash layout's item always has a field
            # Expired by the server's clock, a moment ahead; or deleted behind our back, and
            # then missing: bookkeeping alone is no item.
            return StoredItem(version.decode(), None, expired=expires is not None)
        return StoredItem(version.decode(), self._data(held, json_fields, score))

    def _data(self, held: Any, json_fields: bytes | None, score: list[Any]) -> Item:
        if self.kind == "hash":
            as_json = set(json.loads(json_fields or b"[]"))
            return {
                name.decode(): plain(loads(value)) if name.decode() in as_json else value.decode()
                for name, value in held.items()
            }
        if self.value_attribute is None:
            return dict(plain(loads(held)))
        value = plain(loads(held)) if self.value_json else held.decode()
        data: Item = {self.value_attribute: value}
        if score and score[0] is not None and self.spec.index_attribute:
            data[self.spec.index_attribute] = of_score(float(score[0]))
        return data


def cluster_problem(layout: ItemLayout) -> str | None:
    """Why the layout's keys of one item may land on different Redis Cluster slots, or None."""
    templates = layout.templates()
    tags = {hash_tag(template) for template in templates}
    if len(tags) == 1 and None not in tags:
        return None
    pk = f"{{{layout.spec.partition_key}}}"
    tagged = " and ".join(
        repr(t if hash_tag(t) else t.replace(pk, "{" + pk + "}", 1)) for t in templates
    )
    return (
        f"table {layout.table}'s keys {' and '.join(map(repr, templates))} may hash to "
        f"different slots (one script writes them and their versions); give them one hash "
        f"tag, e.g. {tagged}"
    )
