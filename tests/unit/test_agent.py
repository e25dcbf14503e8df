"""The agent's logic through Faust's test_context: no Kafka, in-memory stores."""

import asyncio
from pathlib import Path

from connectors.sink import Batch, WriteOutcome
from streams.app import create_app, group_for
from streams.settings import Settings
from streams.tables import DEFAULT_TABLES
from tests.support import MemoryDeadLetters, MemoryStore, delete, upsert

TABLES = dict(DEFAULT_TABLES)


def test_agent_applies_batches_and_dead_letters_garbage(tmp_path: Path) -> None:
    settings = Settings(web_enabled=False, data_dir=str(tmp_path), batch_max_seconds=0.05)
    store, dlq = MemoryStore(), MemoryDeadLetters()
    first, second, gone = upsert("o", "p", 1), upsert("o", "p", 2), delete("o", "q", 5)
    acked: list[bool] = []

    async def run() -> None:
        # Built inside the running loop, so Faust uses it rather than making its own.
        app = create_app(settings, "test-agent", lambda: [store], dead_letters=dlq)
        app.finalize()
        app.conf.store = "memory://"  # type: ignore[assignment]  # Faust's setter takes a str
        app.flow_control.resume()
        agent = app.agents[next(iter(app.agents))]
        async with agent.test_context() as ctx:
            put = [
                await ctx.put(value, key=b"k")
                for value in (second.to_json(), b"{oops", first.to_json(), gone.to_json())
            ]
            for _ in range(200):
                if all(event.message.acked for event in put):
                    break
                await asyncio.sleep(0.01)
            acked.extend(event.message.acked for event in put)
        # Faust gives its consumer thread an event loop that nothing closes.
        app.consumer._thread.thread_loop.close()  # type: ignore[attr-defined]

    asyncio.run(run())
    assert store.items[second.item_id(TABLES["opponents"])] == second
    assert store.items[gone.item_id(TABLES["opponents"])] == gone
    assert dlq.reasons() == ["not_json"]
    assert acked == [True] * 4


class BrokenStore(MemoryStore):
    async def write(self, batch: Batch) -> WriteOutcome:
        raise RuntimeError("a bug, not an outage")


def test_an_unexpected_error_is_fatal_and_acks_nothing(tmp_path: Path) -> None:
    settings = Settings(web_enabled=False, data_dir=str(tmp_path), batch_max_seconds=0.05)
    fatal: list[BaseException] = []

    async def on_fatal(exc: BaseException) -> None:
        fatal.append(exc)

    async def run() -> int:
        app = create_app(
            settings, "test-agent", lambda: [BrokenStore()], MemoryDeadLetters(), on_fatal
        )
        app.finalize()
        app.conf.store = "memory://"  # type: ignore[assignment]  # Faust's setter takes a str
        app.flow_control.resume()
        agent = app.agents[next(iter(app.agents))]
        async with agent.test_context() as ctx:
            event = await ctx.put(upsert("o", "p", 1).to_json(), key=b"k")
            for _ in range(200):
                if fatal:
                    break
                await asyncio.sleep(0.01)
            acked = event.message.acked
        app.consumer._thread.thread_loop.close()  # type: ignore[attr-defined]
        return int(acked)

    assert asyncio.run(run()) == 0
    assert [str(e) for e in fatal] == ["a bug, not an outage"]


def test_a_worker_for_one_store_has_its_own_group() -> None:
    settings = Settings()
    assert group_for(settings, ["redis", "dynamodb"]) == "cdc-replicator"
    assert group_for(settings, ["redis"]) == "cdc-replicator-redis"
