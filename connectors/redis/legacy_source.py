"""Snapshot source for the legacy app's legacy Redis layout, and a generator of synthetic data
for it.

Per owner a sorted set of opponent ids scored by last-message time, plus one string key per
(owner, opponent) holding its metadata. Both key patterns are templates over the table's key
attribute names, defaults:

    opponents:{owner_id}                 zset   member opponent_id, score = last-message time
    opponent:{owner_id}:{opponent_id}    string metadata

Reading is SCAN (TYPE zset) over the owners, then pipelined ZRANGE and MGET per chunk. A chunk's
cursor is its page's SCAN cursor and the last owner key it completes (owners are taken in key
order within a page), so a resumed run repeats at most one chunk. An owner added to that page
after the cut may be skipped: it was written after the snapshot began, so the live path has it.
"""

import json
import math
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from connectors.redis.templates import fill
from connectors.sources.snapshot_source import WHOLE, Chunk, Part, SourceItem, SourceProblem
from streams.model import numbers
from streams.model.errors import ConfigError
from streams.model.tables import TableSpec

DONE = "done"


@dataclass(frozen=True)
class LegacyLayout:
    table: str = "opponents"
    zset_pattern: str = "opponents:{owner_id}"
    meta_pattern: str = "opponent:{owner_id}:{opponent_id}"
    score_attribute: str = "timestamp"
    meta_attribute: str = "metadata"
    meta_format: str = "text"  # "text": UTF-8 string; "json": a JSON value

    def check(self, spec: TableSpec) -> str:
        """The table's sort key; ConfigError unless `spec`'s items can be read (or generated) this
        way: the table has a sort key, the zset pattern holds the partition key's placeholder
        once, the metadata pattern both placeholders (or every owner's items share keys)."""
        if spec.sort_key is None:
            raise ConfigError(
                f"table {self.table!r} has no sort_key in CDC_TABLES: the legacy layout keys "
                "an item by owner and opponent (a table with a sort key)"
            )
        owner, opponent = f"{{{spec.partition_key}}}", f"{{{spec.sort_key}}}"
        if self.zset_pattern.count(owner) != 1:
            raise ConfigError(f"--zset-pattern {self.zset_pattern!r} must hold {owner} once")
        missing = [name for name in (owner, opponent) if name not in self.meta_pattern]
        if missing:
            raise ConfigError(
                f"--meta-pattern {self.meta_pattern!r} must hold {' and '.join(missing)}"
            )
        return spec.sort_key

    def scan_glob(self, spec: TableSpec) -> str:
        return _escape_glob(self.zset_pattern).replace(
            _escape_glob(f"{{{spec.partition_key}}}"), "*"
        )

    def owner_of(self, key: str, spec: TableSpec) -> str | None:
        prefix, _, suffix = self.zset_pattern.partition(f"{{{spec.partition_key}}}")
        match = re.fullmatch(re.escape(prefix) + "(.+)" + re.escape(suffix), key, re.DOTALL)
        return match.group(1) if match else None

    # The worker's template layout fills the same templates the same way (connectors/
    # redis_templates.py): keys as the application writes them, ids as they are.
    def zset_key(self, spec: TableSpec, owner: str) -> str:
        return fill(self.zset_pattern, {spec.partition_key: owner})

    def meta_key(self, spec: TableSpec, owner: str, member: str) -> str:
        values = {spec.partition_key: owner, spec.sort_key or "": member}
        return fill(self.meta_pattern, values)


def _escape_glob(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class RedisLegacySource:
    name = "redis-legacy"

    def __init__(
        self,
        client: "aioredis.Redis",
        spec: TableSpec,
        layout: LegacyLayout | None = None,
        *,
        page_keys: int = 5000,  # SCAN COUNT: keys examined a call, metadata keys included
        max_members: int = 10_000,
        chunk_items: int = 5000,
        part: Part = WHOLE,  # owners whose zset key hashes to this part
        foreign: re.Pattern[str] | None = None,  # keys that are no owner's (`foreign_keys`)
    ) -> None:
        self.layout = layout or LegacyLayout()
        self.sort_key = self.layout.check(spec)
        self.client = client
        self.spec = spec
        self.page_keys = page_keys
        self.max_members = max_members  # per ZRANGE call; bigger sets are read in slices
        self.chunk_items = chunk_items
        self.part = part
        self.foreign = foreign

    async def chunks(self, cursor: str | None) -> AsyncIterator[Chunk]:
        if cursor == DONE:
            return
        position: dict[str, Any] = json.loads(cursor) if cursor else {"scan": 0, "after": None}
        scan: int = int(position["scan"])
        after: str | None = position["after"]
        glob = self.layout.scan_glob(self.spec)
        while True:
            next_scan, keys = await self.client.scan(
                scan, match=glob, count=self.page_keys, _type="zset"
            )
            mine = [key for key in map(_text, keys) if self._mine(key)]
            todo = sorted(k for k in mine if after is None or k > after)
            async for chunk in self._read_page(todo, scan):
                yield chunk
            yield Chunk(cursor=_cursor(next_scan, None) if next_scan else DONE)
            if not next_scan:
                return
            scan, after = next_scan, None

    def _mine(self, key: str) -> bool:
        """In this part, and not a key the replicator or another declared layout writes."""
        foreign = self.foreign is not None and self.foreign.fullmatch(key)
        return not foreign and self.part.owns(_raw(key))

    async def _read_page(self, keys: Sequence[str], scan: int) -> AsyncIterator[Chunk]:
        """A page's owners in key order; each chunk's cursor names the last owner it completes,
        so a resumed run repeats at most one chunk. Two round trips per chunk: all members
        (pipelined ZRANGE), then all metadata (pipelined MGET)."""
        owners = [(key, *self._owner_of(key)) for key in keys]
        pipe = self.client.pipeline(transaction=False)
        for key, owner, _ in owners:
            if owner is not None:
                pipe.zrange(key, 0, self.max_members - 1, withscores=True)
        slices = iter(await pipe.execute())
        rows: list[tuple[str, str, float]] = []
        problems: list[SourceProblem] = []
        done: str | None = None
        for key, owner, problem in owners:
            if owner is None:
                problems.append(SourceProblem(_printable(key), problem))
            else:
                members = next(slices)
                rows.extend((owner, _text(pair[0]), float(pair[1])) for pair in members)
                if len(members) == self.max_members:  # a huge set: the rest in slices
                    yield await self._convert_rows(
                        Chunk(problems=problems, cursor=_cursor(scan, done)), rows
                    )
                    rows, problems = [], []
                    async for rest in self._rest_of(key, owner, _cursor(scan, done)):
                        yield rest
            done = key
            if len(rows) >= self.chunk_items:
                yield await self._convert_rows(
                    Chunk(problems=problems, cursor=_cursor(scan, done)), rows
                )
                rows, problems = [], []
        if rows or problems:
            yield await self._convert_rows(
                Chunk(problems=problems, cursor=_cursor(scan, done)), rows
            )

    def _owner_of(self, key: str) -> tuple[str | None, str]:
        """The owner a sorted-set key names, or None and what is wrong with the key."""
        owner = self.layout.owner_of(key, self.spec)
        if owner is None:
            return None, "key does not match the zset pattern"
        if not _is_utf8(owner):  # keys are text in every event and store
            return None, "owner in the sorted-set key is not UTF-8"
        return owner, ""

    async def _rest_of(self, key: str, owner: str, cursor: str) -> AsyncIterator[Chunk]:
        start = self.max_members
        while True:
            end = start + self.max_members - 1
            members = await self.client.zrange(key, start, end, withscores=True)
            if not members:
                return
            rows = [(owner, _text(pair[0]), float(pair[1])) for pair in members]
            yield await self._convert_rows(Chunk(cursor=cursor), rows)
            start += self.max_members

    async def _convert_rows(self, chunk: Chunk, rows: list[tuple[str, str, float]]) -> Chunk:
        meta_keys = [
            self.layout.meta_key(self.spec, owner, opponent) for owner, opponent, _ in rows
        ]
        metas = await self._mget(meta_keys)
        for (owner, opponent, score), meta_key, meta in zip(rows, meta_keys, metas, strict=True):
            problem = self._convert(chunk, owner, opponent, score, meta)
            if problem:
                chunk.problems.append(SourceProblem(_printable(meta_key), problem))
        return chunk

    async def _mget(self, keys: list[str], per_call: int = 5000) -> list[object]:
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(keys), per_call):
            pipe.mget([_raw(k) for k in keys[start : start + per_call]])
        return [value for values in await pipe.execute() for value in values]

    def _convert(
        self, chunk: Chunk, owner: str, opponent: str, score: float, meta: object
    ) -> str | None:
        """Append the item to `chunk`, or say what is wrong with it."""
        if not _is_utf8(opponent):
            return "sorted-set member is not UTF-8"
        if not isinstance(meta, bytes):
            return "sorted-set member without its metadata key"
        if not math.isfinite(score):
            return f"score {score!r} is not a finite number"
        try:
            metadata = self._parse_meta(meta)
        except ValueError as exc:
            return f"unparsable metadata: {exc}"
        key = {self.spec.partition_key: owner, self.sort_key: opponent}
        data = {
            self.layout.meta_attribute: metadata,
            self.layout.score_attribute: numbers.of_score(score),
        }
        chunk.items.append(SourceItem(self.layout.table, key, data))
        return None

    def _parse_meta(self, raw: bytes) -> Any:
        text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
        return numbers.loads(text) if self.layout.meta_format == "json" else text

    async def estimate(self) -> int | None:
        """DBSIZE: an upper bound when the database holds only the legacy layout."""
        return int(await self.client.dbsize())

    async def close(self) -> None:
        await self.client.aclose()


def _cursor(scan: int, after: str | None) -> str:
    return json.dumps({"scan": scan, "after": after})


# Redis keys are bytes; surrogateescape keeps a key that is not UTF-8 addressable as text.
def _text(raw: object) -> str:
    return raw.decode(errors="surrogateescape") if isinstance(raw, bytes) else str(raw)


def _raw(text: str) -> bytes:
    return text.encode(errors="surrogateescape")


def _is_utf8(text: str) -> bool:
    return _raw(text).decode(errors="ignore") == text


def _printable(text: str) -> str:
    return _raw(text).decode(errors="backslashreplace")


async def generate_legacy_data(
    client: "aioredis.Redis",
    spec: TableSpec,
    *,
    owners: int,
    per_owner: int,
    layout: LegacyLayout | None = None,
    first_owner: int = 0,
    base_time: int = 1_613_725_769,
) -> int:
    """Write a synthetic legacy dataset (deterministic); return how many items it holds."""
    layout = layout or LegacyLayout()
    layout.check(spec)
    batch_owners = max(1, 20_000 // max(per_owner, 1))
    for start in range(first_owner, first_owner + owners, batch_owners):
        pipe = client.pipeline(transaction=False)
        for n in range(start, min(start + batch_owners, first_owner + owners)):
            owner = f"{n},{_tag(n)}"
            opponents = {
                f"{n * 7 + j},{_tag(j)}": base_time - (n * 131 + j * 17) % 86_400
                for j in range(per_owner)
            }
            pipe.zadd(layout.zset_key(spec, owner), opponents)
            pipe.mset({layout.meta_key(spec, owner, o): f"last message to {o}" for o in opponents})
        await pipe.execute()
    return owners * per_owner


def _tag(n: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[n % 26]
