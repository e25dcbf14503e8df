"""Our DynamoDB client's own ceiling: the store's writes against the instant endpoint.

With an endpoint that answers at once (bench/dynamodb_endpoint.py, another process), what is
left is the client's CPU: building, signing, sending and parsing each request. Its CPU per item
bounds one process at 1 / (that CPU) items per second, however fast DynamoDB answers.
"""

import time
from dataclasses import dataclass

from bench.cpu import cpu_seconds
from connectors.dynamodb_client import make_client
from connectors.dynamodb_store import DynamoDBStore
from connectors.sink import Batch
from streams.model.events import ChangeEvent
from streams.settings import Settings

BATCH = 1000  # the worker's batch size (CDC_BATCH_MAX_EVENTS)


@dataclass(frozen=True)
class ClientRun:
    rate: float  # items/s written through DynamoDBStore.write
    cpu_us: float  # the client's CPU per item (this process, every thread)
    endpoint_cpu_us: float  # the endpoint's, to show it was not the bound


async def client_ceiling(
    settings: Settings, events: list[ChangeEvent], url: str, endpoint_pid: int, mode: str
) -> ClientRun:
    """Write `events` (a different item each) a worker batch at a time in write mode `mode`."""
    concurrency = settings.dynamodb_concurrency
    client = make_client(url, settings.aws_region, None, concurrency)
    store = DynamoDBStore(client, settings.tables, concurrency, write_mode=mode)
    batches = [_batch(settings, events[i : i + BATCH]) for i in range(0, len(events), BATCH)]
    try:
        await store.write(batches[0])  # connections opened, nothing measured
        cpu, endpoint, begin = time.process_time(), cpu_seconds(endpoint_pid), time.perf_counter()
        for batch in batches[1:]:
            outcome = await store.write(batch)
            if outcome.applied + outcome.stale != len(batch):
                raise RuntimeError(f"{len(outcome.retry)} writes unsettled: {outcome.cause!r}")
        seconds = time.perf_counter() - begin
        n = len(events) - len(batches[0])
        return ClientRun(
            n / seconds,
            1e6 * (time.process_time() - cpu) / n,
            1e6 * (cpu_seconds(endpoint_pid) - endpoint) / n,
        )
    finally:
        await store.close()


def _batch(settings: Settings, events: list[ChangeEvent]) -> Batch:
    return {event.item_id(settings.tables[event.table]): event for event in events}
