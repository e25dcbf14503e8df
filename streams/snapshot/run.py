"""Fill the stores from a snapshot source through the changes topic, resumably.

Version rule: an item read from a source that does not know its version (the legacy Redis
layout, a JSON Lines file, a table this replicator never wrote) gets the lowest version there
is, `ts = 0`, origin `snapshot:<source>`, and an event id derived from its content. It can only
fill an item the stores do not hold yet (`Version.fills_only`: it never changes one that exists,
not even one written before the replicator): any live write, whenever it happened, carries a
greater `ts` and wins, in whatever order the two arrive. That is safe because the source is
the old store of a dual-write migration: every change made while the snapshot runs also goes
through the live path, so the live version is always at least as new as what the snapshot
read. Re-reading identical data gives the identical version, so a resumed or repeated run is a
no-op. Items that carry their real version (a DynamoDB table written by this replicator) keep it.
"""

import asyncio
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.sources.snapshot_source import Chunk, SnapshotSource, SourceItem, SourceProblem
from streams.kafka.publisher import Publisher
from streams.model import numbers
from streams.model.errors import InvalidEventError
from streams.model.events import (
    SNAPSHOT_ORIGIN,
    SNAPSHOT_TS,
    ChangeEvent,
    ItemId,
    Version,
    check_item,
)
from streams.model.tables import TableSpec

SAMPLE_PROBLEMS = 20


def snapshot_version(item: SourceItem, source: str) -> Version:
    if item.version is not None:
        return item.version
    # The same content read twice gives the same version: a repeated run changes nothing.
    content = numbers.dumps([item.table, item.key, item.data])
    digest = hashlib.blake2b(content, digest_size=12).hexdigest()
    return Version(SNAPSHOT_TS, f"{SNAPSHOT_ORIGIN}{source}", digest)


def snapshot_event(item: SourceItem, source: str, tables: Mapping[str, TableSpec]) -> ChangeEvent:
    """The change event a snapshot publishes for an item (for tests and verify --repair)."""
    return ChangeEvent.model_validate(numbers.loads(snapshot_message(item, source, tables)[1]))


def snapshot_message(
    item: SourceItem, source: str, tables: Mapping[str, TableSpec]
) -> tuple[bytes, bytes]:
    """The (key, value) a snapshot publishes for an item; InvalidEventError if it cannot apply.

    Built as plain JSON rather than through the ChangeEvent model: this runs for every item of
    a 240-million-item copy. Every field but key and data is ours, and check_item checks those
    two as it checks any event's."""
    op = "delete" if item.deleted else "upsert"
    data = None if item.deleted else item.data
    spec = check_item(item.table, op, item.key, data, tables)
    version = snapshot_version(item, source)
    message = {"table": item.table, "op": op, "key": item.key, "ts": version.ts,
               "origin": version.origin, "event_id": version.event_id}  # fmt: skip
    if data is not None:
        message["data"] = data
    kafka_key = ItemId.of(item.table, item.key, spec).kafka_key()
    return kafka_key, numbers.dumps(message)


@dataclass
class Checkpoint:
    """The cursor after the last published chunk, written atomically, plus running counts."""

    path: Path

    def load(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return None

    def save(self, cursor: str | None, counts: Mapping[str, int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"cursor": cursor, "counts": dict(counts)}))
        os.replace(tmp, self.path)  # a crash leaves the old checkpoint or the new one, whole


def problems_file(checkpoint: Path) -> Path:
    """Where a run lists every source problem, beside its checkpoint."""
    return checkpoint.with_suffix(".problems.jsonl")


class RateLimiter:
    """At most `max_rate` items per second on average since the start (None: no limit)."""

    def __init__(self, max_rate: float | None) -> None:
        self.max_rate = max_rate
        self.started = time.monotonic()
        self.items = 0

    async def admit(self, items: int) -> None:
        self.items += items
        if self.max_rate:
            ahead = self.items / self.max_rate - (time.monotonic() - self.started)
            if ahead > 0:
                await asyncio.sleep(ahead)


@dataclass
class SnapshotSummary:
    counts: Counter[str] = field(default_factory=Counter)  # published, problems
    samples: list[SourceProblem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.counts["published"] / self.seconds if self.seconds else 0.0


Progress = Callable[[SnapshotSummary], None]


async def run_snapshot(
    source: SnapshotSource,
    publisher: Publisher,
    tables: Mapping[str, TableSpec],
    checkpoint: Checkpoint,
    *,
    resume: bool = False,
    max_rate: float | None = None,
    on_progress: Progress | None = None,
    problems_file: Path | None = None,
) -> SnapshotSummary:
    """Publish every item of `source`; checkpoint the cursor after each chunk is acknowledged."""
    summary = SnapshotSummary()
    cursor = None
    saved = checkpoint.load() if resume else None
    if saved:
        cursor = saved["cursor"]
        summary.counts.update(saved.get("counts", {}))
    limiter = RateLimiter(max_rate)
    started = time.monotonic()
    in_flight: tuple[asyncio.Task[None], Chunk, int] | None = None

    async def finish(sending: asyncio.Task[None], chunk: Chunk, count: int) -> None:
        await sending  # acknowledged by the broker: only now may the cursor move past it
        _record_problems(summary, chunk.problems, problems_file)
        summary.counts["published"] += count
        checkpoint.save(chunk.cursor, summary.counts)
        summary.seconds = time.monotonic() - started
        if on_progress:
            on_progress(summary)

    # While one chunk's acks are on their way, the next chunk is read and encoded.
    try:
        async for chunk in source.chunks(cursor):
            messages = _encode(chunk, source.name, tables)
            sending = asyncio.create_task(publisher.send_messages(messages))
            if in_flight:
                await finish(*in_flight)
            in_flight = (sending, chunk, len(messages))
            await limiter.admit(len(chunk.items))
        if in_flight:
            await finish(*in_flight)
            in_flight = None
    finally:
        if in_flight:  # interrupted: that chunk is not checkpointed, a resumed run repeats it
            in_flight[0].cancel()
    summary.seconds = time.monotonic() - started
    return summary


def _encode(
    chunk: Chunk, source: str, tables: Mapping[str, TableSpec]
) -> list[tuple[bytes, bytes]]:
    encoded = [_message_or_problem(item, source, tables, chunk.problems) for item in chunk.items]
    return [message for message in encoded if message is not None]


def _message_or_problem(
    item: SourceItem, source: str, tables: Mapping[str, TableSpec], problems: list[SourceProblem]
) -> tuple[bytes, bytes] | None:
    try:
        return snapshot_message(item, source, tables)
    except InvalidEventError as exc:
        problems.append(
            SourceProblem(json.dumps(item.key, ensure_ascii=False), f"{exc.reason}: {exc}")
        )
        return None


def _record_problems(
    summary: SnapshotSummary, problems: list[SourceProblem], path: Path | None
) -> None:
    if not problems:
        return
    summary.counts["problems"] += len(problems)
    room = SAMPLE_PROBLEMS - len(summary.samples)
    summary.samples.extend(problems[:room])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)  # problems come before the checkpoint
        with path.open("a") as report:
            report.writelines(
                json.dumps({"key": p.key, "reason": p.reason}) + "\n" for p in problems
            )
