"""The agent's logic through Faust's test_context: no Kafka, in-memory stores."""

import asyncio
from pathlib import Path

from streams.app import create_app, group_for
from streams.settings import Settings
from streams.tables import DEFAULT_TABLES
from tests.support import MemoryDeadLetters, MemoryStore, delete, upsert

TABLES = dict(DEFAULT_TABLES)


def test_agent_applies_batches_and_dead_letters_garbage(tmp_path: Path) -> None:
    settings = Settings(web_enabled=False, data_dir=str(tmp_path), batch_max_seconds=0.05)
    store, dlq = MemoryStore(), MemoryDeadLetters()
    first, second, gone = upsert("o", "p", 1), upsert("o", "p", 2), delete("o", "q", 5)

    async def run() -> None:
        # Built inside the running loop, so Faust uses it rather than making its own.
        app = create_app(settings, "test-agent", lambda: [store], dead_letters=dlq)
        app.finalize()
        app.conf.store = "memory://"  # type: ignore[assignment]  # Faust's setter takes a str
        app.flow_control.resume()
        agent = app.agents[next(iter(app.agents))]
        async with agent.test_context() as ctx:
            for value in (second.to_json(), b"{oops", first.to_json(), gone.to_json()):
                await ctx.put(value, key=b"k")
            for _ in range(200):
                if len(store.items) == 2 and dlq.sent:
                    break
                await asyncio.sleep(0.01)
        # Faust gives its consumer thread an event loop that nothing closes.
        app.consumer._thread.thread_loop.close()  # type: ignore[attr-defined]

    asyncio.run(run())
    assert store.items[second.item_id(TABLES["opponents"])] == second
    assert store.items[gone.item_id(TABLES["opponents"])] == gone
    assert dlq.reasons() == ["not_json"]


def test_a_worker_for_one_store_has_its_own_group() -> None:
    settings = Settings()
    assert group_for(settings, ["redis", "dynamodb"]) == "cdc-replicator"
    assert group_for(settings, ["redis"]) == "cdc-replicator-redis"
