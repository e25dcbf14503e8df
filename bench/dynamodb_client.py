"""Our DynamoDB client's own ceiling: the store's writes against the instant endpoint, beside
boto3 alone sending the very same requests (the client the store used before, the baseline).

With an endpoint that answers at once (bench/dynamodb_endpoint.py, another process), what is
left is the client's CPU: building, signing, sending and parsing each request. Its CPU per item
bounds one process at 1 / (that CPU) items per second, however fast DynamoDB answers.
"""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.cpu import cpu_seconds
from connectors.dynamodb.client import make_api, make_client
from connectors.dynamodb.store import DynamoDBStore, WriteRequest
from connectors.dynamodb.transact import transactions
from connectors.store import Batch
from streams.model.events import ChangeEvent
from streams.settings import Settings

BATCH = 1000  # the worker's batch size (CDC_BATCH_MAX_EVENTS)


@dataclass(frozen=True)
class ClientRun:
    rate: float  # items/s
    cpu_us: float  # the client's CPU per item (this process, every thread)
    endpoint_cpu_us: float  # the endpoint's, to show it was not the bound


async def client_ceiling(
    settings: Settings, events: list[ChangeEvent], url: str, endpoint_pid: int, mode: str
) -> ClientRun:
    """Write `events` (a different item each) through DynamoDBStore.write, a worker batch at a
    time, in write mode `mode`."""
    concurrency = settings.dynamodb_concurrency
    api = make_api(url, settings.aws_region, None, concurrency)
    store = DynamoDBStore(api, settings.tables, concurrency, write_mode=mode)
    batches = [_batch(settings, events[i : i + BATCH]) for i in range(0, len(events), BATCH)]

    async def write(batch: Batch) -> None:
        outcome = await store.write(batch)
        if outcome.applied + outcome.stale != len(batch):
            raise RuntimeError(f"{len(outcome.retry)} writes unsettled: {outcome.cause!r}")

    try:
        await write(batches[0])  # connections opened, nothing measured
        return await _measured(endpoint_pid, len(events) - len(batches[0]), batches[1:], write)
    finally:
        await store.close()


async def boto3_ceiling(
    settings: Settings, events: list[ChangeEvent], url: str, endpoint_pid: int, mode: str
) -> ClientRun:
    """The same requests sent by boto3 alone (a thread each, as many in flight as the store
    allows): a conditional PutItem per item, or TransactWriteItems of the store's own cuts."""
    concurrency = settings.dynamodb_concurrency
    client = make_client(url, settings.aws_region, None, concurrency)
    pool = ThreadPoolExecutor(concurrency)
    store = DynamoDBStore(make_api(url, settings.aws_region, None), settings.tables)
    requests = [store._request(event) for event in events]  # built alike, not measured
    batches = [requests[i : i + BATCH] for i in range(0, len(requests), BATCH)]

    def put(request: WriteRequest) -> None:
        client.put_item(**request.body)

    def transact(writes: list[WriteRequest]) -> None:
        items: Any = [{write.kind: write.body} for write in writes]
        client.transact_write_items(TransactItems=items)

    async def write(batch: list[WriteRequest]) -> None:
        loop = asyncio.get_running_loop()
        if mode == "put":
            await asyncio.gather(*(loop.run_in_executor(pool, put, r) for r in batch))
        else:
            chunks = transactions(batch)
            await asyncio.gather(*(loop.run_in_executor(pool, transact, c) for c in chunks))

    try:
        await write(batches[0])
        return await _measured(endpoint_pid, len(events) - len(batches[0]), batches[1:], write)
    finally:
        pool.shutdown()
        client.close()
        await store.close()


async def _measured(endpoint_pid: int, items: int, batches: list[Any], write: Any) -> ClientRun:
    cpu, endpoint, begin = time.process_time(), cpu_seconds(endpoint_pid), time.perf_counter()
    for batch in batches:
        await write(batch)
    seconds = time.perf_counter() - begin
    return ClientRun(
        items / seconds,
        1e6 * (time.process_time() - cpu) / items,
        1e6 * (cpu_seconds(endpoint_pid) - endpoint) / items,
    )


def _batch(settings: Settings, events: list[ChangeEvent]) -> Batch:
    return {event.item_id(settings.tables[event.table]): event for event in events}
