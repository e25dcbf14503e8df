"""The `hash` and `template` Redis layouts: items written as their readers already read them.

    hash      <key>        hash    one field per attribute: strings as they are, numbers as
                                   their exact decimal text, anything else as JSON
    template  <key>        string  the value attribute (text, or JSON), or the data as JSON
    both      <index_key>  zset    member <member>, score = the index attribute
              <prefix>:v:<key>  hash  bookkeeping: v version, k the identity of the item that
                                   owns the key, j fields held as JSON, t tombstone (then it
                                   expires after the grace period), x the expiry in epoch ms
              <prefix>:x:<index_key>  zset  members' expiries, for a table that declares one

Templates are filled with ids as they are: the keys and members the application reads. The
bookkeeping hash shares the data key's hash tag, so one script per item compares versions and
writes all of them atomically, on one server or a Redis Cluster slot; it refuses an item whose
key another item owns, or whose keys hold another type, before changing anything.
"""

import json
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from connectors.redis.templates import fill, hash_tag, parser
from connectors.store import KEY_COLLISION
from streams.model.errors import Reason
from streams.model.events import ChangeEvent, ItemId
from streams.model.expiry import expires_at
from streams.model.numbers import dumps
from streams.model.partial import kept_attributes
from streams.model.redis_key_space import key_templates, opens_with_a_value, reserved_key
from streams.model.tables import TableSpec

# Both LWW scripts compare versions and expire items with the same Lua functions, loaded ahead.
SCRIPTS = files("connectors.redis")
SHARED_LUA = "\n".join(
    SCRIPTS.joinpath(name).read_text() for name in ("version_order.lua", "expiry.lua")
)
LAYOUT_SCRIPT = SHARED_LUA + SCRIPTS.joinpath("layout.lua").read_text()
# The `cdc` layout's (connectors/redis/store.py).
LWW_SCRIPT = SHARED_LUA + SCRIPTS.joinpath("lww.lua").read_text()
ScriptCall = tuple[list[str], list[Any]]


class ItemLayout:
    """Key names and values of one table in the `hash` or `template` layout."""

    def __init__(self, table: str, spec: TableSpec, prefix: str) -> None:
        declared, templates = spec.redis, key_templates(table, spec)
        self.table, self.spec, self.prefix = table, spec, prefix
        self.kind = "hash" if declared.layout == "hash" else "string"
        self.key, self.index_key, self.member = templates.key, templates.index_key, templates.member
        self.value_attribute = declared.value_attribute
        self.value_json = declared.value_format == "json"
        self._member_parser = parser(self.member, spec.sort_key or "")
        # Only a template opening with a value can reach the replicator's own keys: the
        # others were checked at start (streams/model/redis_key_space.py).
        self._guarded = any(opens_with_a_value(t) for t in self.templates())

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
        """The sorted set of the index members' expiries (connectors/redis/expiry.lua)."""
        return f"{self.prefix}:x:{index}"

    def member_of(self, item: ItemId) -> str:
        return fill(self.member, item.key(self.spec))

    def sort_of(self, member: str) -> str | None:
        match = self._member_parser.fullmatch(member)
        return match["value"] if match else None

    @staticmethod
    def identity(item: ItemId) -> str:
        """The item as its bookkeeping names it (`k`): the owner of its key."""
        return json.dumps(item)

    def problem(self, item: ItemId, event: ChangeEvent) -> str | None:
        """Why this layout cannot take the write, or None. Decoding refuses an upsert it cannot
        hold (streams/model/redis_layout_spec.py); this guards writes that skipped it."""
        if self._guarded:
            keys = [self.data_key(item), self.index(item.partition) or ""]
            mine = next((key for key in keys if reserved_key(key, self.prefix)), None)
            if mine is not None:
                return f"item {self.identity(item)} renders {mine!r}, a key of the replicator's own"
        if event.op == "delete":
            return None
        # A partial upsert fits as the whole row would: the attributes it keeps count.
        data = (event.data or {}) | dict.fromkeys(kept_attributes(event), "")
        return self.spec.redis.cannot_hold(self.table, data, self.spec.index_attribute)

    def refusal(self, item: ItemId, reply: bytes) -> tuple[Reason, str]:
        """The dead-letter reason and message of a write the script refused (changing nothing):
        a key another item owns, or a key of another type."""
        what, *detail = reply.decode(errors="backslashreplace").split("\0")
        if what == "owned":
            return KEY_COLLISION, (
                f"redis: key {self.data_key(item)!r} belongs to item {detail[0]}, and item "
                f"{self.identity(item)} renders it too (template {self.key!r}); refused, so "
                "their data never mix"
            )
        key, held, wanted = detail
        return "rejected_by_store", (
            f"redis: key {key!r} holds a {held}, not a {wanted} (written by another "
            f"application?); item {self.identity(item)} refused, nothing of it changed"
        )

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
                "=" + self.member_of(item) if index else "",  # a member may be empty
                self.identity(item),
                json.dumps(json_fields),
                "" if expires is None else expires * 1000,
                len(values),
                *values,
            )
        return keys, args

    def _values(self, data: dict[str, Any]) -> tuple[list[str], list[str | bytes]]:
        if self.kind == "string":
            if self.value_attribute is not None and self.value_attribute not in data:
                return [], []  # no value of it yet (streams/model/partial.py): no data key
            value = data if self.value_attribute is None else data[self.value_attribute]
            if isinstance(value, str) and not self.value_json:
                return [], [value]
            return [], [dumps(value)]
        as_json = [name for name, value in data.items() if not isinstance(value, str)]
        pairs: list[str | bytes] = []
        for name, value in data.items():
            pairs += (name, value if isinstance(value, str) else dumps(value))
        return as_json, pairs


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
