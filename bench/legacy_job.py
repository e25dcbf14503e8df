"""The legacy app's own job: its legacy Redis layout -> `snapshot` -> Kafka -> a worker -> DynamoDB,
and how long 240 million items would take.

The legacy layout is generated, snapshotted into a topic of its own (the events `snapshot
--source redis-legacy` publishes), then drained by one worker feeding DynamoDB alone, against
the instant endpoint (the worker's own ceiling: its CPU is the bound) and against dynalite (an
emulator doing the work). The projection takes, per worker process, the lower of the instant
endpoint's rate and what DynamoDB's ~4 ms per put allows at CDC_DYNAMODB_CONCURRENCY in
flight, one process per core.
"""

import argparse
import asyncio
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import ours, snapshot
from bench.dynamodb_endpoint import instant_endpoint
from bench.report import Row
from bench.workload import Workload, publish_workload
from streams.devstack.process import free_port, wait_until
from streams.devstack.services import DynaliteService
from streams.model.events import ChangeEvent
from streams.settings import Settings
from streams.snapshot.run import snapshot_event

LEGACY_ITEMS = 240_000_000
DYNAMODB_PUT_SECONDS = 0.004  # the legacy app's measured put latency (anchors)
PROCESSES = (1, 8, 32)
PER_OWNER = 100


def rows(base: Settings, args: argparse.Namespace, cache: Path) -> list[Row]:
    owners = args.seed_owners
    print(f"Legacy app's job: legacy Redis ({owners * PER_OWNER:,} items) -> snapshot -> worker -> "
          "DynamoDB", flush=True)  # fmt: skip
    asyncio.run(snapshot.generate_legacy(base, owners, PER_OWNER))
    workload = asyncio.run(_snapshotted(base))
    n = len(workload.events)
    rates: dict[str, list[float]] = {"instant": [], "dynalite": []}
    cpu: list[float] = []
    with instant_endpoint() as (url, _), _dynalite(cache) as dynalite_url:
        for run in range(args.runs):
            for name, endpoint in (("instant", url), ("dynalite", dynalite_url)):
                drain = ours.drain(_at(workload, endpoint), "dynamodb")
                rates[name].append(n / drain.seconds)
                if name == "instant":
                    cpu.append(drain.cpu_us.get("worker", float("nan")))
            print(f"  run {run + 1}: instant endpoint {rates['instant'][-1]:,.0f}/s, "
                  f"dynalite {rates['dynalite'][-1]:,.0f}/s", flush=True)  # fmt: skip
    return [
        Row("Legacy app's job: legacy Redis -> snapshot -> a worker -> DynamoDB (instant endpoint)",
            "items/s", rates["instant"], _projection(rates["instant"], base)),
        Row("  the worker's CPU per item (instant endpoint)", "us", cpu),
        Row("Legacy app's job, the same against dynalite", "items/s", rates["dynalite"]),
    ]  # fmt: skip


def _projection(rates: list[float], base: Settings) -> str:
    """Hours for 240 M items at 1, 8 and 32 worker processes."""
    rate = sorted(rates)[len(rates) // 2]
    latency_bound = base.dynamodb_concurrency / DYNAMODB_PUT_SECONDS
    per_process = min(rate, latency_bound)
    bound = "client CPU" if rate < latency_bound else f"{DYNAMODB_PUT_SECONDS * 1000:.0f} ms puts"
    hours = ", ".join(f"{p}: {LEGACY_ITEMS / (p * per_process) / 3600:,.1f} h" for p in PROCESSES)
    return (
        f"240 M items at 1/8/32 processes ({hours}); per process min(client {rate:,.0f}/s, "
        f"{base.dynamodb_concurrency} in flight / {DYNAMODB_PUT_SECONDS * 1000:.0f} ms = "
        f"{latency_bound:,.0f}/s): {bound} bound"
    )


async def _snapshotted(base: Settings) -> Workload:
    """The events `snapshot --source redis-legacy` publishes for the generated layout, published."""
    source = snapshot.legacy_source(base)
    events: list[ChangeEvent] = []
    try:
        async for chunk in source.chunks(None):
            events += [snapshot_event(item, "redis-legacy", base.tables) for item in chunk.items]
    finally:
        await source.close()
    return await publish_workload(base, events, "seed-job")


def _at(workload: Workload, endpoint: str) -> Workload:
    settings = workload.settings.model_copy(update={"dynamodb_endpoint_url": endpoint})
    return Workload(workload.events, settings)


@contextmanager
def _dynalite(cache: Path) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as state:
        service = DynaliteService(free_port(), Path(state), cache)
        service.prepare()
        process = service.process()
        process.start()
        try:
            if not wait_until(service.ready, 60):
                raise RuntimeError(f"dynalite did not start:\n{process.log_tail()}")
            yield f"http://127.0.0.1:{service.port}"
        finally:
            process.stop()
