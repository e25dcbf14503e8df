"""Redis store: one hash per item, one sorted set per partition, written by one Lua script.

Layout (`cdc` is `CDC_REDIS_KEY_PREFIX`; key values are percent-encoded, so distinct keys
never collide and no value can break out of the `{...}` hash tag):

    cdc:{<table>:<partition>}:i:<sort>   hash  v = version token, d = data JSON (absent: tombstone),
                                               x = expiry in epoch ms (connectors/redis/expiry.py)
    cdc:{<table>:<partition>}:idx        zset  member <sort>, score = index attribute
    cdc:{<table>:<partition>}:x          zset  member <sort>, score = its expiry, if it has one

All keys of a partition share a hash tag, so a partition lives on one Redis Cluster slot.
Tables declared with another layout (`hash`, `template`) are written and read through
connectors/redis/layouts.py, with the same batching, retries and failure isolation.
"""

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.cluster import RedisCluster

from connectors.redis import cdc_reads, layout_reads
from connectors.redis.errors import ACCESS_ERRORS, TRANSIENT_ERRORS, refused, write_error_outcome
from connectors.redis.expiry import expiry_field
from connectors.redis.index_check import Place, check_listing
from connectors.redis.keys import RedisKeys, quoted
from connectors.redis.layouts import LAYOUT_SCRIPT, LWW_SCRIPT, ItemLayout
from connectors.redis.merge import MERGE, RedisMerges
from connectors.store import (
    Batch,
    Item,
    StoredItem,
    Strays,
    UnreadableItemsError,
    WriteOutcome,
)
from streams.model.events import ChangeEvent, ItemId
from streams.model.numbers import dumps
from streams.model.tables import TableSpec

CLUSTER_IN_FLIGHT = 64
CALL_ITEMS = 100  # items per script call: fewer round trips, and short enough not to stall Redis
# Redis is fed a batch in parts of this many records, so that it applies one part while the
# next is decoded: whole, redis-server ran a batch's scripts while the worker waited (a quarter
# of the drain's time). Parts are coalesced apart: an item in two parts is written twice,
# harmlessly (LWW).
PART_RECORDS = 250
ScriptCall = tuple[list[str], list[Any]]  # keys and args of one LWW script call
Write = tuple[ItemId, ChangeEvent]


@dataclass(frozen=True)
class WriteScript:
    """How one layout's writes become script calls, and which key places an item on a slot."""

    text: str
    call: Callable[[Sequence[Write]], ScriptCall]
    slot_key: Callable[[ItemId], str]


class RedisStore:
    name = "redis"
    part_records = PART_RECORDS

    def __init__(
        self,
        client: "aioredis.Redis | RedisCluster",
        tables: Mapping[str, TableSpec],
        key_prefix: str = "cdc",
        tombstone_grace_seconds: int = 7 * 24 * 3600,
    ) -> None:
        self.client = client
        self.tables = tables
        self.keys = RedisKeys(key_prefix)
        self.tombstone_ms = tombstone_grace_seconds * 1000
        self._shas: dict[str, str] = {}  # each script's, loaded on every primary
        self.layouts = {
            name: ItemLayout(name, spec, key_prefix)
            for name, spec in tables.items()
            if spec.redis.layout != "cdc"
        }
        # One per layout, made once: writes are grouped by it, so a batch is few script calls.
        self._scripts = {
            name: WriteScript(
                LAYOUT_SCRIPT, partial(layout.call, tombstone_ms=self.tombstone_ms), layout.book_key
            )
            for name, layout in self.layouts.items()
        }
        self._cdc = WriteScript(LWW_SCRIPT, self.cdc_call, self.keys.item)
        self._merges = RedisMerges(self)  # partial upserts (connectors/redis/merge.py)

    @classmethod
    def from_url(
        cls, url: str, tables: Mapping[str, TableSpec], password: str | None = None, **kw: Any
    ) -> "RedisStore":
        """`redis://` or `rediss://` for one server; `redis+cluster://host:port` (or
        `rediss+cluster://`) for a Redis Cluster, discovered from that node."""
        options: dict[str, Any] = {
            "password": password,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
        }
        scheme, _, rest = url.partition("://")
        if scheme.endswith("+cluster"):
            cluster = RedisCluster.from_url(
                f"{scheme.removesuffix('+cluster')}://{rest}", **options
            )
            return cls(cluster, tables, **kw)
        return cls(aioredis.from_url(url, **options), tables, **kw)

    async def write(self, batch: Batch) -> WriteOutcome:
        outcome = WriteOutcome()
        if not batch:
            return outcome
        merged: list[Write] = []  # partial upserts, and writes an item's older values may take
        try:
            for script, writes in self._by_script(batch, outcome, merged).items():
                await self._write_with(script, writes, outcome, merged)
            if merged:
                await self._merges.write(merged, outcome)
        except ACCESS_ERRORS as exc:
            raise refused(exc) from exc
        except TRANSIENT_ERRORS as exc:  # retried whole: applying a write twice changes nothing
            return WriteOutcome(retry=dict(batch), cause=exc)
        return outcome

    def _by_script(
        self, batch: Batch, outcome: WriteOutcome, merged: list[Write]
    ) -> dict[WriteScript, list[Write]]:
        """The batch's writes per layout's script; upserts a layout cannot hold are rejected."""
        scripts: dict[WriteScript, list[Write]] = defaultdict(list)
        for item, event in batch.items():
            layout = self.layouts.get(item.table)
            problem = layout.problem(item, event) if layout else None
            if problem:
                outcome.rejected.append((event, f"redis: {problem}"))
            elif event.unchanged is not None:
                merged.append((item, event))
            else:
                scripts[self._scripts.get(item.table, self._cdc)].append((item, event))
        return scripts

    async def _write_with(
        self, script: WriteScript, writes: list[Write], outcome: WriteOutcome, merged: list[Write]
    ) -> None:
        groups = self._groups(writes, script.slot_key)
        sha = await self._script(script.text)
        replies = await self._run(sha, [script.call(group) for group in groups])
        results = await self._isolate_failures(sha, groups, replies, script.call)
        for group, group_results in zip(groups, results, strict=True):
            for (item, event), result in zip(group, group_results, strict=True):
                if result == MERGE:
                    merged.append((item, event))
                else:
                    self.count(outcome, item, event, result)

    async def run_script(self, text: str, calls: list[ScriptCall]) -> list[Any]:
        """Each call's reply (or error) from the script `text`."""
        return await self._run(await self._script(text), calls)

    def _groups(self, writes: list[Write], slot_key: Callable[[ItemId], str]) -> list[list[Write]]:
        """Script calls of up to CALL_ITEMS items; on a cluster, each call's keys share a slot."""
        if not isinstance(self.client, RedisCluster):
            return _chunks(writes)
        by_slot: dict[int, list[Write]] = defaultdict(list)
        for write in writes:
            by_slot[self.client.keyslot(slot_key(write[0]))].append(write)
        return [chunk for group in by_slot.values() for chunk in _chunks(group)]

    async def _run(self, sha: str, calls: list[ScriptCall]) -> list[Any]:
        if isinstance(self.client, RedisCluster):
            return await self._call_each(sha, calls)
        return await self._call_pipelined(sha, calls)

    async def _isolate_failures(
        self,
        sha: str,
        groups: list[list[Write]],
        replies: list[Any],
        build: Callable[[Sequence[Write]], ScriptCall],
    ) -> list[list[Any]]:
        """A call that failed as a whole on bad data (say, a key of the wrong type) runs again
        one item per call, so only the culprit is rejected. Items the failed call applied
        before the error come out stale the second time; LWW makes that harmless."""
        results: list[list[Any]] = []
        for group, reply in zip(groups, replies, strict=True):
            if isinstance(reply, list):
                results.append(reply)
            elif isinstance(reply, TRANSIENT_ERRORS) or len(group) == 1:
                results.append([reply] * len(group))
            else:
                singles = await self._run(sha, [build([write]) for write in group])
                results.append([r[0] if isinstance(r, list) else r for r in singles])
        return results

    async def _call_pipelined(self, sha: str, calls: list[ScriptCall]) -> list[Any]:
        """One round trip for the whole batch."""
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))

    async def _call_each(self, sha: str, calls: list[ScriptCall]) -> list[Any]:
        """Redis Cluster: redis-py refuses scripts in a cluster pipeline, so each call goes to its
        slot's node on its own, many in flight at once."""
        slots = asyncio.Semaphore(CLUSTER_IN_FLIGHT)

        async def call(keys: list[str], args: list[Any]) -> Any:
            async with slots:
                return await self.client.evalsha(sha, len(keys), *keys, *args)

        return list(await asyncio.gather(*(call(k, a) for k, a in calls), return_exceptions=True))

    async def _script(self, text: str) -> str:
        # SCRIPT LOAD goes to every primary of a cluster; a restarted server without the script
        # answers NOSCRIPT, which is retried after loading it again.
        if text not in self._shas:
            self._shas[text] = str(await self.client.script_load(text))
        return self._shas[text]

    def count(
        self, outcome: WriteOutcome, item: ItemId, event: ChangeEvent, result: object
    ) -> None:
        """Count one script reply for `event` in `outcome`."""
        if isinstance(result, rexc.NoScriptError):
            self._shas.clear()
        if isinstance(result, bytes):  # refused by a layout's script, nothing changed
            reason, message = self.layouts[item.table].refusal(item, result)
            outcome.rejected.append((event, message))
            outcome.reasons[id(event)] = reason
            return
        written = result if isinstance(result, BaseException) else result == 1
        outcome.count(item, event, written, self.name, write_error_outcome)

    def cdc_call(self, writes: Sequence[Write]) -> ScriptCall:
        """Keys and packed arguments of one script call, built in one pass over the writes."""
        keys: list[str] = []
        args: list[Any] = [self.tombstone_ms]
        item_keys, tables = self.keys.item_keys, self.tables
        for item, event in writes:
            item_key, index_key, expiries_key, member = item_keys(item)
            spec = tables[item.table]
            # The expiries key only where the script reads it (lww.lua).
            keys += (item_key, index_key, expiries_key) if spec.expiry else (item_key, index_key)
            index, data, version = spec.index_attribute, event.data, event.version
            score = data.get(index) if index and data else None
            # 'fill' (a snapshot's lowest version) writes only an item Redis does not hold; '+'
            # for a table whose items may hold values older than themselves (lww.lua).
            op = "fill" if version.fills_only else event.op
            kept = "+" if spec.format == "debezium" else ""
            fields = f"{version.token()}\0{op}{kept}\0{'' if score is None else repr(float(score))}"
            packed = f"{fields}\0{member}\0".encode() + expiry_field(spec, event) + b"\0"
            args.append(packed + dumps(data or {}) if event.op == "upsert" else packed)
        return keys, args

    async def get(self, table: str, key: Mapping[str, str]) -> Item | None:
        spec = self.tables[table]
        item = ItemId.of(table, key, spec)
        if table not in self.layouts:
            return await cdc_reads.get(self.client, self.keys, spec, item)
        (stored,) = await layout_reads.read_many(self.client, self.layouts[table], [item])
        if stored is not None and stored.problem:
            raise UnreadableItemsError([f"redis: {stored.problem}"])
        return None if stored is None or stored.data is None else {**item.key(spec), **stored.data}

    async def list_partition(self, table: str, partition: str, limit: int) -> list[Item]:
        if table in self.layouts:
            layout = self.layouts[table]
            listing = await layout_reads.list_partition(self.client, layout, partition, limit)
        else:
            spec = self.tables[table]
            listing = await cdc_reads.list_partition(
                self.client, self.keys, spec, table, partition, limit=limit
            )
        if listing.problems:
            problems = [f"redis: {problem}" for problem in listing.problems]
            raise UnreadableItemsError(problems, listing.items)
        return listing.items

    async def read_many(self, table: str, items: Sequence[ItemId]) -> dict[ItemId, StoredItem]:
        """Versions and data of many items in one round trip (tombstones included)."""
        if table in self.layouts:
            found = await layout_reads.read_many(self.client, self.layouts[table], items)
        else:
            found = await cdc_reads.read_many(self.client, self.keys, items)
        held = {item: held for item, held in zip(items, found, strict=True) if held is not None}
        place = self._listing_place(table)
        index = self.tables[table].index_attribute
        return await check_listing(self.client, index, place, held) if place and index else held

    def _listing_place(self, table: str) -> Place | None:
        """Where an item of `table` is listed, for a layout whose index verify must check."""
        layout = self.layouts.get(table)
        if layout is None:
            return lambda item: (self.keys.index(table, item.partition), quoted(item.sort))
        if layout.kind != "hash":
            return None  # the template layout reads its index attribute from the score
        return lambda item: (layout.index(item.partition) or "", layout.member_of(item))

    async def item_pages(
        self, table: str, page_size: int = 1000, strays: Strays | None = None
    ) -> AsyncIterator[list[tuple[ItemId, StoredItem]]]:
        """Every item of a table that Redis holds (tombstones included), a SCAN page at a time."""
        if table in self.layouts:
            pages = layout_reads.item_ids(self.client, self.layouts[table], page_size, strays)
        else:
            pages = cdc_reads.item_ids(self.client, self.keys, table, page_size)
        async for items in pages:
            held = await self.read_many(table, items)
            yield [(item, held[item]) for item in items if item in held]

    def cannot_hold(self, event: ChangeEvent) -> str | None:
        return None  # what a layout cannot hold is refused with the event (events.py)

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()


def _chunks(writes: list[Write]) -> list[list[Write]]:
    return [writes[i : i + CALL_ITEMS] for i in range(0, len(writes), CALL_ITEMS)]
