"""The "Adding a store" chapter (docs/adding-a-store.md), run as it stands: its toy store is
registered through the registry, opened by its name, and held to the replicator's contract
tests, beside the test suite's in-memory store."""

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.store import Store
from streams.kafka.records import RawRecord, Record
from streams.model.events import ChangeEvent
from streams.model.tables import DEFAULT_TABLES
from streams.pipeline.replicator import Replicator
from streams.settings import Settings
from streams.stores import STORES, StoreKind, open_store, register_store
from tests.support import MemoryDeadLetters, MemoryStore, assert_store_matches, histories, upsert

CHAPTER = Path(__file__).resolve().parents[2] / "docs" / "adding-a-store.md"
TABLES = dict(DEFAULT_TABLES)
SETTINGS = Settings(web_enabled=False)
# The chapter's store, and the suite's own fake, both through the registry.
CONTRACT_STORES = ["dict", "memory"]


def chapter_code() -> str:
    [code] = re.findall(r"```python\n(.*?)```", CHAPTER.read_text(), re.DOTALL)
    return code


@pytest.fixture(scope="module")
def chapter() -> Iterator[ModuleType]:
    """The chapter's code run as a module: it registers `dict`."""
    module = ModuleType("adding_a_store")
    exec(compile(chapter_code(), str(CHAPTER), "exec"), module.__dict__)  # noqa: S102
    register_store("memory", StoreKind(lambda settings: MemoryStore("memory")))
    yield module
    for name in CONTRACT_STORES:
        STORES.pop(name, None)


def records(values: list[bytes | None], first: int = 0) -> list[Record]:
    return [RawRecord("changes", 0, first + n, b"k", v) for n, v in enumerate(values)]


def replicated(store: Store, batches: list[list[bytes | None]]) -> MemoryDeadLetters:
    letters = MemoryDeadLetters()
    replicator = Replicator(TABLES, store, letters)
    offset = 0
    for batch in batches:
        asyncio.run(replicator.process(records(batch, offset)))
        offset += len(batch)
    return letters


def test_the_chapters_store_is_opened_by_its_name(chapter: ModuleType) -> None:
    store = open_store(SETTINGS, "dict")
    assert isinstance(store, chapter.DictStore) and store.name == "dict"
    with pytest.raises(ValueError, match="unknown store 'nope'; choose from redis, dynamodb"):
        open_store(SETTINGS, "nope")


@pytest.mark.parametrize("name", CONTRACT_STORES)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=histories(owners=("user:7", "a b")), size=st.integers(1, 8))
def test_every_history_through_the_replicator_ends_in_the_lww_fold(
    chapter: ModuleType, name: str, events: list[ChangeEvent], size: int
) -> None:
    store = open_store(SETTINGS, name)
    values: list[bytes | None] = [event.to_json() for event in events]
    letters = replicated(store, [values[i : i + size] for i in range(0, len(values), size)])
    asyncio.run(assert_store_matches(store, events, TABLES))
    assert letters.sent == []


@pytest.mark.parametrize("name", CONTRACT_STORES)
def test_malformed_records_are_dead_lettered_and_the_others_applied(
    chapter: ModuleType, name: str
) -> None:
    store = open_store(SETTINGS, name)
    good1, good2 = upsert("user:7", "{x}", 1), upsert("user:7", "50%", 2)
    batch = [good1.to_json(), b"garbage", good2.to_json(), b'{"table": "nope"}', b"", None]
    letters = MemoryDeadLetters()
    report = asyncio.run(Replicator(TABLES, store, letters).process(records(batch)))
    assert report.outcomes[name].applied == 2 and report.tombstones == 1
    assert letters.reasons() == ["not_json", "schema", "not_json"]
    asyncio.run(assert_store_matches(store, [good1, good2], TABLES))


@pytest.mark.parametrize("name", CONTRACT_STORES)
def test_an_older_write_arriving_later_is_stale(chapter: ModuleType, name: str) -> None:
    store = open_store(SETTINGS, name)
    newer, older = upsert("user:7", "a b", 2), upsert("user:7", "a b", 1)
    replicator = Replicator(TABLES, store, MemoryDeadLetters())
    asyncio.run(replicator.process(records([newer.to_json()])))
    report = asyncio.run(replicator.process(records([older.to_json()], 1)))
    assert report.outcomes[name].stale == 1 and report.outcomes[name].applied == 0
    asyncio.run(assert_store_matches(store, [newer, older], TABLES))
