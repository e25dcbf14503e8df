"""The store agents, driven with Faust's test_context(): no Kafka, in-memory stores."""

import asyncio

import faust
import pytest

from connectors.store import Batch, StoreWrites, WriteOutcome
from streams.kafka.records import RawRecord, Record
from streams.model.tables import DEFAULT_TABLES
from streams.pipeline.replicator import BatchReport, Replicator
from streams.retry import Backoff
from streams.settings import Settings
from streams.worker.agents import BatchJob, add_store_agent
from streams.worker.app import create_app
from tests.support import MemoryDeadLetters, MemoryStore, upsert

TABLES = dict(DEFAULT_TABLES)
FAST = Backoff(initial=0.001, maximum=0.002)
STORES = ("redis", "dynamodb")


def records(*values: bytes) -> list[Record]:
    return [RawRecord("changes", 0, offset, b"k", value) for offset, value in enumerate(values)]


class BrokenStore(MemoryStore):
    async def write(self, batch: Batch) -> WriteOutcome:
        raise RuntimeError("a bug, not an outage")


def close_idle_consumer(app: faust.types.AppT) -> None:
    """A Faust stream creates the app's Kafka consumer (switched off, never started), whose
    thread has an event loop of its own that nothing closes."""
    consumer = app._consumer  # type: ignore[attr-defined]
    if consumer is not None:
        consumer._thread.thread_loop.close()


def agent_over(
    store: MemoryStore, dlq: MemoryDeadLetters, running: list[bool] | None = None
) -> faust.types.AgentT:
    app = faust.App("agent-test", value_serializer="raw", web_enabled=False)

    def replicator(opened: StoreWrites) -> Replicator:
        return Replicator(TABLES, opened, dlq, FAST)

    seen = running if running is not None else []
    return add_store_agent(app, store.name, lambda: store, replicator, seen.append)


def test_the_agent_applies_a_whole_batch_and_resolves_its_future() -> None:
    store, dlq = MemoryStore("redis", fail_times=2), MemoryDeadLetters()
    first, second = upsert("o", "p", 1), upsert("o", "q", 2)

    async def run() -> BatchReport:
        agent = agent_over(store, dlq)
        async with agent.test_context() as tested:
            done: asyncio.Future[BatchReport] = asyncio.get_running_loop().create_future()
            await tested.put(BatchJob(records(first.to_json(), b"{oops", second.to_json()), done))
            report = await asyncio.wait_for(done, 5)
        close_idle_consumer(agent.app)
        return report

    report = asyncio.run(run())
    assert report.records == 3 and report.outcomes["redis"].applied == 2
    assert report.outcomes["redis"].retries == 2  # transient failures waited out, in the agent
    assert len(store.items) == 2 and dlq.reasons() == ["not_json"]


def test_a_bug_in_the_store_fails_the_batch_and_crashes_the_agent() -> None:
    store, dlq = BrokenStore("dynamodb"), MemoryDeadLetters()

    running: list[bool] = []

    async def run() -> bool:
        agent = agent_over(store, dlq, running)
        done: asyncio.Future[BatchReport] = asyncio.get_running_loop().create_future()
        async with agent.test_context() as tested:
            await tested.put(BatchJob(records(upsert("o", "p", 1).to_json()), done))
            with pytest.raises(RuntimeError, match="a bug"):  # the intake makes it exit 1
                await asyncio.wait_for(done, 5)
            crashed = bool(tested.crashed)
        close_idle_consumer(agent.app)
        return crashed

    assert asyncio.run(run())  # Faust saw the agent crash too
    assert dlq.sent == []
    assert running == [True, False]  # /health hears of it


def test_one_agent_per_store_and_only_the_first_dead_letters_malformed_records() -> None:
    stores = {"redis": MemoryStore("redis"), "dynamodb": MemoryStore("dynamodb")}
    dlq = MemoryDeadLetters()
    batch = records(b"not json", upsert("o", "p", 1).to_json())

    async def run() -> None:  # Faust takes the running loop: build the app inside it
        settings = Settings(web_enabled=False)
        app = create_app(settings, ["dynamodb", "redis"], stores.__getitem__, dlq)
        assert sorted(app.agents) == ["apply-dynamodb", "apply-redis"]
        for name in ("redis", "dynamodb"):
            async with app.agents[f"apply-{name}"].test_context() as tested:
                done: asyncio.Future[BatchReport] = asyncio.get_running_loop().create_future()
                await tested.put(BatchJob(batch, done))
                await asyncio.wait_for(done, 5)
        close_idle_consumer(app)

    asyncio.run(run())
    assert all(len(store.items) == 1 for store in stores.values())
    assert dlq.reasons() == ["not_json"]  # once, by the redis agent, not once per store


def test_faust_log_lines_name_each_agent_by_its_store() -> None:
    """Faust labels its "Agent: ...: Starting" and "Crashed" lines by the agent's function."""
    redis, dynamodb = (agent_over(MemoryStore(name), MemoryDeadLetters()) for name in STORES)
    assert redis.label.endswith("apply-redis"), redis.label
    assert dynamodb.label.endswith("apply-dynamodb"), dynamodb.label


def test_a_store_named_twice_gets_one_agent_and_one_feed() -> None:
    """Two feeds in one group but one agent (Faust keeps agents by name): half the partitions
    would be sent to an agent that never runs."""

    async def run() -> tuple[list[str], list[str]]:
        app = create_app(Settings(web_enabled=False), ["redis", "redis"], MemoryStore)
        return sorted(app.agents), [task.__name__ for task in app._app_tasks]

    agents, tasks = asyncio.run(run())
    assert agents == ["apply-redis"] and tasks.count("feed") == 1, tasks
