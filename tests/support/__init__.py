"""Test helpers that are not tests. Here: event builders, hypothesis strategies, fakes and store
assertions; beside it the worker process (`worker`, `buggy_worker`), the services a few tests
start (`cluster`, `password_redis`, `prometheus`, `proxy`, `browser`), the Debezium stack
(`debezium`) and the DynamoDB stand-in (`dynamodb_standin`)."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from connectors.store import Batch, Item, Store, StoredItem, Strays, WriteOutcome
from streams.model.events import ChangeEvent, ItemId
from streams.model.redis_layout_spec import RedisLayoutSpec
from streams.model.tables import TableSpec
from streams.pipeline.dlq import DeadLetterTopic, Headers
from streams.pipeline.lww import coalesce
from streams.pipeline.replicator import BatchReport, Replicator
from streams.retry import Backoff
from streams.settings import Settings

# Every Redis layout the LWW property tests run with; the template layout is the legacy app's.
REDIS_LAYOUTS = {
    "cdc": RedisLayoutSpec(),
    "hash": RedisLayoutSpec(layout="hash"),
    "template": RedisLayoutSpec(
        layout="template",
        index_key="opponents:{owner_id}",
        key="opponent:{owner_id}:{opponent_id}",
        value_attribute="metadata",
    ),
    # Default (hash-tagged) templates, the data as one JSON string.
    "template-json": RedisLayoutSpec(layout="template"),
}


def with_redis_layout(settings: Settings, layout: RedisLayoutSpec) -> Settings:
    """The settings with every table in `layout` (validated, as if declared)."""
    tables = {
        name: TableSpec.model_validate({**spec.model_dump(), "redis": layout.model_dump()})
        for name, spec in settings.tables.items()
    }
    return settings.model_copy(update={"tables": tables})


def upsert(owner: str, opponent: str, ts: int, origin: str = "svc", event_id: str | None = None,
           **data: Any) -> ChangeEvent:  # fmt: skip
    return ChangeEvent(
        table="opponents", op="upsert", key={"owner_id": owner, "opponent_id": opponent},
        data=data or {"metadata": f"m{ts}", "timestamp": ts}, ts=ts, origin=origin,
        event_id=event_id or uuid.uuid4().hex,
    )  # fmt: skip


def delete(
    owner: str, opponent: str, ts: int, origin: str = "svc", event_id: str | None = None
) -> ChangeEvent:
    return ChangeEvent(
        table="opponents", op="delete", key={"owner_id": owner, "opponent_id": opponent},
        ts=ts, origin=origin, event_id=event_id or uuid.uuid4().hex,
    )  # fmt: skip


@st.composite
def histories(
    draw: st.DrawFn, owners: Sequence[str] = ("o1", "o2"), max_events: int = 30
) -> list[ChangeEvent]:
    """Deliveries of a history over a few items: small ts range (ties broken by origin and id),
    duplicates (the same event redelivered) and any order."""
    opponents = ("p1", "p2", "p3")
    n = draw(st.integers(1, max_events // 2))
    distinct: list[ChangeEvent] = []
    for i in range(n):
        ts = draw(st.integers(0, 8))
        origin = draw(st.sampled_from(["a", "b"]))
        owner, opponent = draw(st.sampled_from(owners)), draw(st.sampled_from(opponents))
        if draw(st.booleans()) and draw(st.booleans()):
            distinct.append(delete(owner, opponent, ts, origin, f"e{i}"))
        else:
            score = draw(st.integers(0, 1000))
            distinct.append(
                upsert(owner, opponent, ts, origin, f"e{i}", metadata=f"v{i}", timestamp=score)
            )
    deliveries = draw(st.lists(st.sampled_from(distinct), min_size=n, max_size=max_events))
    return deliveries + draw(st.permutations(distinct))


def batches_of(
    events: Sequence[ChangeEvent], size: int, tables: Mapping[str, TableSpec]
) -> list[Batch]:
    return [coalesce(events[i : i + size], tables) for i in range(0, len(events), size)]


def visible_state(
    events: Iterable[ChangeEvent], tables: Mapping[str, TableSpec]
) -> dict[ItemId, dict[str, object]]:
    """The LWW fold of a history: each live item's data, deleted items absent."""
    return {
        item: dict(event.data or {})
        for item, event in coalesce(events, tables).items()
        if event.op == "upsert"
    }


def expected_items(
    events: Sequence[ChangeEvent], tables: Mapping[str, TableSpec]
) -> dict[ItemId, ChangeEvent]:
    return coalesce(events, tables)


def as_item(event: ChangeEvent) -> Item | None:
    if event.op == "delete":
        return None
    return {**event.key, **(event.data or {})}


async def assert_store_matches(
    store: Any, events: Sequence[ChangeEvent], tables: Mapping[str, TableSpec]
) -> None:
    """Every item's data and stored version equal the LWW fold (tombstones included)."""
    expected = expected_items(events, tables)
    stored: dict[ItemId, StoredItem] = {}
    for table in {item.table for item in expected}:
        stored |= await store.read_many(table, [item for item in expected if item.table == table])
    for item, winner in expected.items():
        got = await store.get(item.table, winner.key)
        assert got == as_item(winner), (item, got, winner)
        held = stored.get(item)
        assert held is not None and held.version == winner.version.token(), (item, held)
        assert held.unlisted is None, (item, held)  # Redis lists it as its data says


def _stored(event: ChangeEvent) -> StoredItem:
    data = dict(event.data or {}) if event.op == "upsert" else None
    return StoredItem(event.version.token(), data)


class MemoryStore:
    """An in-memory LWW store for unit tests, with transient failures on demand."""

    def __init__(self, name: str = "memory", fail_times: int = 0, part_records: int = 0) -> None:
        self.name = name
        self.part_records = part_records
        self.tables: Mapping[str, TableSpec] = {}  # it needs no specs: items carry their keys
        self.items: dict[ItemId, ChangeEvent] = {}
        self.fail_times = fail_times
        self.writes = 0
        self.reject_ids: set[str] = set()

    async def write(self, batch: Batch) -> WriteOutcome:
        self.writes += 1
        if self.fail_times > 0:
            self.fail_times -= 1
            return WriteOutcome(retry=dict(batch), cause=ConnectionError("injected"))
        outcome = WriteOutcome()
        for item, event in batch.items():
            current = self.items.get(item)
            if event.event_id in self.reject_ids:
                outcome.rejected.append((event, "memory: rejected"))
            elif current is None or event.version > current.version:
                self.items[item] = event
                outcome.applied += 1
            else:
                outcome.stale += 1
        return outcome

    def cannot_hold(self, event: ChangeEvent) -> str | None:
        return "memory: rejected" if event.event_id in self.reject_ids else None

    async def get(self, table: str, key: Mapping[str, str]) -> Item | None:
        for event in self.items.values():
            if event.table == table and event.key == dict(key):
                return as_item(event)
        return None

    async def list_partition(self, table: str, partition: str, limit: int) -> list[Item]:
        raise NotImplementedError

    async def read_many(self, table: str, items: Sequence[ItemId]) -> dict[ItemId, StoredItem]:
        return {item: _stored(self.items[item]) for item in items if item in self.items}

    async def item_pages(
        self, table: str, page_size: int = 1000, strays: Strays | None = None
    ) -> AsyncIterator[list[tuple[ItemId, StoredItem]]]:
        held = [(item, _stored(event)) for item, event in self.items.items() if item.table == table]
        for start in range(0, len(held), page_size):
            yield held[start : start + page_size]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


class MemoryDeadLetters(DeadLetterTopic):
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, Headers]] = []
        super().__init__("changes.dlq", self._record)

    async def _record(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        await asyncio.sleep(0)
        self.sent.append((topic, key, value, headers))

    def reasons(self) -> list[str]:
        return [dict(h)["cdc.error.reason"].decode() for *_, h in self.sent]


class EveryStore:
    """The worker's replicators over a batch: one per store, the first dead-letters malformed
    records and counts tombstones (streams/worker/app.py); `process` reports them as one."""

    def __init__(
        self,
        tables: Mapping[str, TableSpec],
        stores: Sequence[Store],
        dead_letters: DeadLetterTopic,
        backoff: Backoff | None = None,
    ) -> None:
        self.replicators = [
            Replicator(tables, store, dead_letters, backoff, owns_invalid=n == 0)
            for n, store in enumerate(stores)
        ]

    async def process(self, records: Sequence[Any]) -> BatchReport:
        first, *others = [await replicator.process(records) for replicator in self.replicators]
        for other in others:
            first.outcomes.update(other.outcomes)
            first.dead_letters.extend(other.dead_letters)
            first.held_back.update(other.held_back)
        return first
