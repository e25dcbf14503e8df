"""Debezium's placeholder for a value it did not send, in the form each column type takes.

Under REPLICA IDENTITY DEFAULT, PostgreSQL's logical decoding leaves out a value stored out of
line (TOAST: text, jsonb, bytea, arrays... over ~2 kB) that an UPDATE did not change, and
Debezium puts its `unavailable.value.placeholder` there (default `__debezium_unavailable_value`;
`hex:<digits>` names bytes) in the column type's form. What Debezium 3.6.1 sends, by the
record's field schema (tests/integration/test_debezium_postgres.py runs it):

    string (text, varchar, json, jsonb, xml...)   the placeholder text
    string io.debezium.data.Json (hstore)         also {"<text>":"<text>"}
    bytes (bytea)                                 the placeholder's bytes, base64
    array of string (text[], varchar[], jsonb[])  [<text>]
    array of string io.debezium.data.Uuid         [the name-based UUID of the bytes]
    array of bytes (bytea[])                      [<base64>]
    array of int32 or int64 (int[], bigint[],     each byte of the placeholder, a signed
      date[])                                     number
    map (hstore.handling.mode=map)                {<text>: <text>}

The text is the bytes read as UTF-8 (a byte that is not: U+FFFD). Other arrays (smallint[],
real[], double precision[], numeric[], boolean[]) come as null, which nothing tells from a
NULL: the worker warns at start about such columns of a table that needs REPLICA IDENTITY FULL
(streams/worker/replica_identity.py).
"""

import base64
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT_PLACEHOLDER = "__debezium_unavailable_value"
UUID = "io.debezium.data.Uuid"
JSON = "io.debezium.data.Json"
# The types a placeholder comes in: every other value is data at once (the hot path).
CARRIERS = frozenset({str, list, dict})
FirstLook = tuple[frozenset[type], frozenset[Any], int]
NO_LOOK: FirstLook = (frozenset(), frozenset(), -1)  # every value is data
Fields = Mapping[str, Mapping[str, Any]]


class Placeholder:
    """One configured placeholder in each of its forms."""

    def __init__(self, configured: str) -> None:
        raw = placeholder_bytes(configured)
        self.text = raw.decode("utf-8", "replace")
        self.base64 = base64.b64encode(raw).decode()
        self.uuid = str(_name_uuid(raw))
        self.numbers = [b - 256 if b > 127 else b for b in raw]  # Java's signed bytes
        self.hstore = json.dumps({self.text: self.text}, separators=(",", ":"), ensure_ascii=False)
        self._by_type: dict[str, list[Any]] = {"string": [self.text], "bytes": [self.base64],
                         "map": [{self.text: self.text}]}  # fmt: skip
        self._by_items: dict[str, list[Any]] = {"string": [[self.text]], "bytes": [[self.base64]],
                          "int32": [self.numbers], "int64": [self.numbers]}  # fmt: skip

    def forms(self, schema: Mapping[str, Any]) -> list[Any]:
        """What this placeholder looks like in a column of this field schema."""
        kind = schema.get("type")
        if kind == "string" and schema.get("name") == JSON:
            return [self.text, self.hstore]
        if kind != "array":
            return self._by_type.get(str(kind), [])
        items = schema.get("items") or {}
        if items.get("name") == UUID:
            return [[self.uuid]]
        return self._by_items.get(str(items.get("type")), [])


class Unavailable:
    """Tells a placeholder from a value: the connector's, and Debezium's default (what the
    topic holds from before a configured one)."""

    def __init__(self, configured: str | None) -> None:
        named = dict.fromkeys([DEFAULT_PLACEHOLDER, configured or DEFAULT_PLACEHOLDER])
        self.placeholders = [Placeholder(text) for text in named]
        # A value's first look: a text, or an array's first element, one of these, else data.
        self.heads = frozenset(_heads(self.placeholders))
        self.longest = max(len(head) for head in self.heads if type(head) is str)
        # What the decoder checks each value against before `is_one_of`: its type, a text's
        # length (a long text is never hashed) and membership in `heads`.
        self.first_look: FirstLook = (CARRIERS, self.heads, self.longest)

    def stands_for(self, column: str, value: Any, fields: Fields | None) -> bool:
        """Whether `value` of `column` is a placeholder, not data (called with a value of a
        type in CARRIERS)."""
        schema = fields.get(column) if fields is not None else None
        return schema is not None and self.is_one_of(value, schema, None)

    def forms(self, schema: Mapping[str, Any]) -> list[Any] | None:
        """Every placeholder's forms in a column of this field schema; None for a schema they
        cannot be told from (`is_one_of` raises when a value needs them)."""
        try:
            return self._forms(schema)
        except Exception:  # noqa: BLE001 -- raised again, where a value needs the forms
            return None

    def is_one_of(self, value: Any, schema: Mapping[str, Any], forms: list[Any] | None) -> bool:
        """Whether `value` (of a type in CARRIERS) is a placeholder in a column of `schema`,
        whose forms are `forms` (None: worked out here)."""
        kind = type(value)
        if kind is str and (len(value) > self.longest or value not in self.heads):
            return False
        if kind is list and not (value and _short(value[0], self.longest) in self.heads):
            return False
        return value in (self._forms(schema) if forms is None else forms)

    def _forms(self, schema: Mapping[str, Any]) -> list[Any]:
        return [form for p in self.placeholders for form in p.forms(schema)]


def _short(value: Any, longest: int) -> Any:
    """An array's first element, to look up among the heads: None for a long text (never
    hashed) or a value that cannot be one."""
    kind = type(value)
    if kind is int or (kind is str and len(value) <= longest):
        return value
    return None


def placeholder_bytes(configured: str) -> bytes:
    """The bytes a configured placeholder names: `hex:` and hex digits, or text (UTF-8);
    ValueError for `hex:` without an even number of hex digits."""
    if configured.startswith("hex:"):
        return bytes.fromhex(configured[4:])
    return configured.encode()


def _heads(placeholders: Iterable[Placeholder]) -> Iterable[Any]:
    for p in placeholders:
        yield from (p.text, p.hstore, p.base64, p.uuid)
        if p.numbers:
            yield p.numbers[0]


def _name_uuid(raw: bytes) -> uuid.UUID:
    """Java's UUID.nameUUIDFromBytes: the MD5 of the bytes as a version 3 UUID."""
    digest = bytearray(hashlib.md5(raw).digest())  # noqa: S324 -- Java's name UUID, not security
    digest[6] = (digest[6] & 0x0F) | 0x30
    digest[8] = (digest[8] & 0x3F) | 0x80
    return uuid.UUID(bytes=bytes(digest))
