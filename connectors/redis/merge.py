"""Redis's partial upserts: read the item, settle it with the write in Python
(streams/model/partial.py: numbers stay exact, no JSON is merged in Lua), and write the result
with the layout's script as a 'cas': only if the item's version and older origins are still
those read (else read again).

An item holding values older than itself keeps their origins beside its version: field `o`
(JSON) and `m` (the version they belong to, \\x01, the oldest origin), in the item hash
(`cdc`) or the bookkeeping hash (`hash`, `template`). A whole write newer than the item
leaves them behind in the `cdc` layout (clearing them would cost a call per write), where
`m` no longer names the item's version; the other layouts drop them. A write older than the
item that the script refuses while `m` is older than it comes back (2) to be merged here.
"""

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from connectors.redis import layout_reads
from connectors.redis.errors import wrong_type
from connectors.redis.expiry import unread
from connectors.redis.layouts import LAYOUT_SCRIPT, LWW_SCRIPT, ItemLayout, ScriptCall
from connectors.store import WriteOutcome
from streams.model.events import ChangeEvent, ItemId, Version
from streams.model.numbers import loads, of_score
from streams.model.partial import NOTHING, Held, held_of, settled

if TYPE_CHECKING:
    from connectors.redis.store import RedisStore

MERGE = 2  # the scripts' reply: the item holds values older than this write
MOVED = 3  # the scripts' reply: a 'cas' whose item changed since it was read
ATTEMPTS = 8  # reads a write may meet changed; then it is retried later, with backoff
Write = tuple[ItemId, ChangeEvent]
Read = tuple[Held, tuple[str, str]]  # the item, and its version and older origins as read


class RedisMerges:
    """The merges of one store's writes, through its scripts."""

    def __init__(self, store: "RedisStore") -> None:
        self.store = store

    async def write(self, writes: Sequence[Write], outcome: WriteOutcome) -> None:
        """Each write merged with what its item holds, counted in `outcome`; holes noted."""
        pending = list(writes)
        for _ in range(ATTEMPTS):
            held = await self._read([item for item, _ in pending])
            casts: list[tuple[ItemId, ChangeEvent, ChangeEvent, Held]] = []
            for (item, event), (before, read) in zip(pending, held, strict=True):
                after = settled(before, held_of(event), event.version.fills_only)
                if after is None:
                    outcome.stale += 1
                else:
                    casts.append((item, event, _cas(event, after, read), after))
            replies = await self._run([(item, cas) for item, _, cas, _ in casts])
            pending = []
            for (item, event, _, after), reply in zip(casts, replies, strict=True):
                if reply == MOVED:
                    pending.append((item, event))
                    continue
                if reply == 1 and after.holes:
                    outcome.holes[item] = after.holes
                self.store.count(outcome, item, event, reply)
            if not pending:
                return
        outcome.retry.update(pending)  # changed under us each time: retried with backoff
        outcome.cause = RuntimeError("items changed while being merged")

    async def _run(self, casts: list[Write]) -> list[Any]:
        """One script call per write (merges are few), pipelined per script."""
        store = self.store
        by_script: dict[str, list[tuple[int, ScriptCall]]] = {}
        for i, (item, cas) in enumerate(casts):
            layout = store.layouts.get(item.table)
            if layout is None:
                keys, args = store.cdc_call([(item, cas)])
                args[1] = _cdc_cas(args[1], cas)
            else:
                keys, args = layout.call([(item, cas)], store.tombstone_ms)
                args[3] = "cas\0" + "\0".join(_cas_fields(cas))
            text = LWW_SCRIPT if layout is None else LAYOUT_SCRIPT
            by_script.setdefault(text, []).append((i, (keys, args)))
        replies: list[Any] = [None] * len(casts)
        for text, calls in by_script.items():
            answers = await store.run_script(text, [call for _, call in calls])
            for (i, _), answer in zip(calls, answers, strict=True):
                replies[i] = answer[0] if isinstance(answer, list) else answer
        return replies

    async def _read(self, items: list[ItemId]) -> list[Read]:
        pipe = self.store.client.pipeline(transaction=False)
        for item in items:
            layout = self.store.layouts.get(item.table)
            if layout is None:
                pipe.hmget(self.store.keys.item(item), ["v", "d", "x", "o", "m"])
            else:
                pipe.hmget(layout.book_key(item), ["v", "t", "x", "k", "o", "m", "j"])
                layout_reads.queue_data(pipe, layout, item)
        replies = list(await pipe.execute(raise_on_error=False))
        found: list[Read] = []
        for item in items:
            layout = self.store.layouts.get(item.table)
            if layout is None:
                found.append(_cdc_held(*replies.pop(0)))
            else:
                n = layout_reads.replies_per_item(layout)
                found.append(_layout_held(layout, item, _typed(replies[:n])))
                del replies[:n]
        return found


def _typed(replies: list[Any]) -> list[Any] | None:
    """The replies, or None when a key holds another type (the application wrote it): the
    script's own type check then refuses the write, naming the key."""
    return None if any(wrong_type(reply) for reply in replies) else replies


class _Cas(ChangeEvent):
    """A merged item to write over what was read: `read` the version and older origins read,
    `older` the item's new ones."""

    read: tuple[str, str] = ("", "")
    older: dict[str, str] = Field(default_factory=dict)


def _cas(event: ChangeEvent, after: Held, read: tuple[str, str]) -> ChangeEvent:
    version = Version.from_token(after.version)
    return _Cas.model_construct(
        table=event.table, op="upsert", key=event.key, data=after.data, unchanged=None,
        ts=version.ts, origin=version.origin, event_id=version.event_id, read=read,
        older=after.older,
    )  # fmt: skip


def _cas_fields(cas: ChangeEvent) -> list[str]:
    """The version and origins read, then the new `o` and `m` (the scripts' cas)."""
    assert isinstance(cas, _Cas)  # noqa: S101 -- built above
    if not cas.older:
        return [*cas.read, "", ""]
    oldest = f"{cas.version.token()}\x01{min(cas.older.values())}"
    return [*cas.read, json.dumps(cas.older), oldest]


def _origins(version: bytes, older: bytes | None, oldest: bytes | None) -> dict[str, str]:
    """The item's older origins: `o`, if `m` says it belongs to this version (a whole write
    leaves an earlier version's behind)."""
    if older is None or oldest is None or not oldest.startswith(version + b"\x01"):
        return {}
    return dict(json.loads(older))


def _cdc_cas(packed: bytes, cas: ChangeEvent) -> bytes:
    """The cdc script's packed fields of an upsert, made a 'cas' (lww.lua)."""
    version, _, score, member, expires, data = packed.split(b"\0", 5)
    extras = "\0".join(_cas_fields(cas)).encode() + b"\0"
    return b"\0".join([version, b"cas", score, member, expires, extras + data])


def _cdc_held(version: bytes | None, data: bytes | None, expires: bytes | None,
              older: bytes | None, oldest: bytes | None) -> Read:  # fmt: skip
    if version is None:
        return NOTHING, ("", "")
    read = (version.decode(), (older or b"").decode())
    if unread(data, expires):  # deleted, or past its expiry: gone
        return Held(read[0], None), read
    return Held(read[0], loads(data or b"{}"), _origins(version, older, oldest)), read


def _layout_held(layout: ItemLayout, item: ItemId, replies: list[Any] | None) -> Read:
    """The item as the layout's script sees it: a key another item owns, which is gone, is
    free (absent); one whose data cannot be read is replaced, as a whole write does."""
    if replies is None:
        return NOTHING, ("", "")
    (version, tombstone, expires, owner, older, oldest, json_fields), held, *score = replies
    gone = tombstone is not None or (expires is not None and int(expires) <= time.time() * 1000)
    if version is None or (owner is not None and owner.decode() != layout.identity(item)):
        return NOTHING, ("", "")
    read = (version.decode(), (older or b"").decode())
    if gone:
        return Held(read[0], None), read
    origins = _origins(version, older, oldest)
    if held is None or held == {}:  # no value held yet (a hole), or deleted behind our back
        index = layout.spec.index_attribute
        listed = {index: of_score(float(score[0]))} if index and score and score[0] else {}
        return Held(read[0], listed, origins), read
    try:
        data = layout_reads.exact_data(layout, held, json_fields, score)
    except ValueError:  # what the application wrote there: replaced, as a whole write does
        return Held(read[0], {}, origins), read
    return Held(read[0], data, origins), read
