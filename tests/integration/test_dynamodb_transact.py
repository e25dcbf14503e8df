"""DynamoDB's transact write mode against moto's server (dynalite has no transactions): stale
items named by the cancellation reasons are dropped, the rest applied, and the store still ends
in the LWW fold."""

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.dynamodb.transact import TRANSACT_LIMIT
from connectors.store import WriteOutcome
from streams.model.events import ChangeEvent
from streams.pipeline.lww import coalesce
from streams.settings import Settings
from streams.stores import ensure_tables, open_store
from streams.worker.run import prepare
from tests.conftest import Services
from tests.integration.test_stores import run_property, unique_owners
from tests.support import assert_store_matches, delete, histories, upsert
from tests.support.worker import WorkerProcess, committed, publish

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def transact(services: Services) -> Iterator[Settings]:
    # One transaction in flight: moto rolls a cancelled transaction back by restoring a copy of
    # the whole table taken before it, which undoes transactions that committed meanwhile
    # (moto/dynamodb/models/__init__.py, transact_write_items). DynamoDB isolates them.
    settings_ = services.settings(dynamodb_write_mode="transact", dynamodb_concurrency=1)
    ensure_tables(settings_.dynamodb, settings_.tables)
    yield settings_


def write_all(settings_: Settings, *batches: list[ChangeEvent]) -> list[WriteOutcome]:
    """Each batch written as the replicator would (coalesced), then the LWW fold checked."""

    async def run() -> list[WriteOutcome]:
        store = open_store(settings_, "dynamodb")
        try:
            outcomes = [await store.write(coalesce(b, settings_.tables)) for b in batches]
            await assert_store_matches(store, [e for b in batches for e in b], settings_.tables)
            return outcomes
        finally:
            await store.close()

    return asyncio.run(run())


def test_a_stale_item_in_the_middle_is_dropped_and_the_others_applied(transact: Settings) -> None:
    owner = uuid.uuid4().hex
    first = [upsert(owner, "p2", 10)]
    second = [upsert(owner, "p1", 1), upsert(owner, "p2", 5), upsert(owner, "p3", 1)]
    _, outcome = write_all(transact, first, second)
    assert (outcome.applied, outcome.stale, outcome.retry, outcome.rejected) == (2, 1, {}, [])


def test_stale_items_everywhere_and_a_delete_among_them(transact: Settings) -> None:
    owner = uuid.uuid4().hex
    first = [upsert(owner, f"p{i}", 10) for i in range(0, 10, 3)]
    second = [upsert(owner, f"p{i}", 5) for i in range(10)] + [delete(owner, "p9", 11)]
    _, outcome = write_all(transact, first, second)
    assert (outcome.applied, outcome.stale, outcome.retry) == (7, 3, {})  # p9: the delete wins


def test_a_batch_of_several_transactions(transact: Settings) -> None:
    owner = uuid.uuid4().hex
    n = 2 * TRANSACT_LIMIT + 17
    first = [upsert(owner, f"p{i}", 10) for i in range(0, n, 7)]
    second = [upsert(owner, f"p{i}", 5) for i in range(n)]
    _, outcome = write_all(transact, first, second)
    assert (outcome.applied, outcome.stale, outcome.retry) == (n - len(first), len(first), {})


def test_a_snapshot_version_only_fills_an_absent_item(transact: Settings) -> None:
    owner = uuid.uuid4().hex
    live = upsert(owner, "p1", 3)
    fills = [upsert(owner, f"p{i}", 0, "snapshot:test", f"s{i}", metadata="s") for i in (1, 2)]

    async def run() -> WriteOutcome:
        store = open_store(transact, "dynamodb")
        try:
            await store.write(coalesce([live], transact.tables))
            outcome = await store.write(coalesce(fills, transact.tables))
            await assert_store_matches(store, [live, fills[1]], transact.tables)
            return outcome
        finally:
            await store.close()

    outcome = asyncio.run(run())
    assert (outcome.applied, outcome.stale) == (1, 1)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(1, 8))
def test_transact_mode_ends_in_the_lww_fold(
    transact: Settings, data: st.DataObject, size: int
) -> None:
    events = data.draw(histories(owners=unique_owners(), max_events=20))
    run_property(transact, "dynamodb", events, size)


def test_transact_mode_against_an_endpoint_without_transactions_stops_the_worker(
    services: Services, dynalite: tuple[str, int | None], tmp_path: Path
) -> None:
    """dynalite has no TransactWriteItems: the worker stops with one line (exit 2) instead of
    retrying for ever while /health and /ready say 200."""
    endpoint, _ = dynalite
    settings = services.settings(dynamodb_endpoint_url=endpoint, dynamodb_write_mode="transact")
    asyncio.run(prepare(settings, ["dynamodb"]))
    asyncio.run(publish(settings, [upsert("user:7", "user:8", 1)]))
    worker = WorkerProcess(services, settings, tmp_path / "worker.log", stores="dynamodb").start()
    assert worker.proc is not None
    try:
        code = worker.proc.wait(90)
    finally:
        worker.stop()
    log = worker.log.read_text()
    last = log.splitlines()[-1]
    assert code == 2, worker.log_tail()
    assert "CDC_DYNAMODB_WRITE_MODE=transact against a local emulator" in log  # said at start
    assert last.startswith("error: dynamodb refused access (ClientError: ") and (
        f"{endpoint} has no TransactWriteItems" in last
    ), last
    assert not any(p.committed for p in committed(settings, ["dynamodb"]))
