"""The Faust agents that apply the changes: one per store, each fed whole fetched batches.

Each store's intake (streams/pipeline/intake.py) sends every batch it fetched, as one value, to its
store's agent over an in-memory channel, and commits the batch's offsets once the agent resolved
the batch's future. So Faust runs the agents (start, stop, crash handling) while its per-event
cost is paid once per batch of up to `CDC_BATCH_MAX_EVENTS` records.
"""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import faust
from faust.types import AgentT, StreamT

from connectors.store import StoreWrites
from streams.kafka.records import Record
from streams.model.errors import AccessRefusedError
from streams.pipeline.replicator import BatchReport, Replicator

ReplicatorFor = Callable[[StoreWrites], Replicator]
F = TypeVar("F", bound=Callable[..., Any])
# Told True as the agent starts (or Faust restarts it), False as it ends.
OnRunning = Callable[[bool], None]


@dataclass(frozen=True, slots=True)
class BatchJob:
    """A fetched batch, and the future its agent resolves once the store holds it."""

    records: Sequence[Record]
    done: "asyncio.Future[BatchReport]"


def add_store_agent(
    app: faust.App,
    store_name: str,
    open_store: Callable[[], StoreWrites],
    replicator: ReplicatorFor,
    on_running: OnRunning | None = None,
) -> AgentT:
    """The agent `apply-<store>`: it owns the store's connection from its start to its stop.
    `on_running` tells /health whether it runs: a dead agent would leave batches unapplied."""
    running = on_running or (lambda alive: None)

    @app.agent(app.channel(), name=f"apply-{store_name}", concurrency=1)
    @_labelled(f"apply-{store_name}")
    async def apply(batches: StreamT[BatchJob]) -> None:
        running(True)
        store = open_store()
        try:
            applying = replicator(store)
            async for job in batches:
                await _run(job, applying)
        finally:
            running(False)
            await store.close()

    return apply


def _labelled(name: str) -> Callable[[F], F]:
    """Faust's own log lines ("Agent: ...: Starting", "Crashed") label an agent by its
    function's name: without this, both agents read `add_store_agent.<locals>.apply`."""

    def label(fun: F) -> F:
        fun.__name__ = fun.__qualname__ = name
        return fun

    return label


async def _run(job: BatchJob, replicator: Replicator) -> None:
    """A bug fails the batch's future (the intake stops the worker, exit 1) and the agent."""
    try:
        report = await replicator.process(job.records)
    except AccessRefusedError as exc:  # not a bug: the intake stops the worker with one line
        if not job.done.done():
            job.done.set_exception(exc)
        return
    except Exception as exc:
        if not job.done.done():
            job.done.set_exception(exc)
        raise
    if not job.done.done():  # done already: its intake was cancelled, the worker is stopping
        job.done.set_result(report)


async def submit(agent: AgentT, records: Sequence[Record]) -> BatchReport:
    """Send one fetched batch to `agent` and wait until the store holds it."""
    done: asyncio.Future[BatchReport] = asyncio.get_running_loop().create_future()
    await agent.channel.send(value=BatchJob(records, done))
    return await done
