"""What bounds the replicator: reading the topic, and driving each store directly."""

import asyncio
import time

from aiokafka import AIOKafkaConsumer

from bench.workload import Workload
from connectors.redis.store import CALL_ITEMS, LWW_SCRIPT
from streams.stores import ensure_tables, open_dynamodb, open_redis

PIPELINE = 1000  # the worker's batch size (CDC_BATCH_MAX_EVENTS)


async def bare_consumer(workload: Workload) -> float:
    """Seconds for a bare aiokafka consumer to read the whole topic doing nothing with it, in
    fetches of the worker's batch size. Counted like the worker: from the first batch in hand
    to the last, scaled to the whole topic."""
    settings = workload.for_run("bare")
    consumer = AIOKafkaConsumer(
        settings.topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        total, seen, first = len(workload.events), 0, 0
        begin = 0.0
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=PIPELINE)
            seen += sum(len(records) for records in batches.values())
            if not first and seen:
                first, begin = seen, time.perf_counter()
        return (time.perf_counter() - begin) * total / max(total - first, 1)
    finally:
        await consumer.stop()


async def redis_direct(workload: Workload) -> float:
    """Seconds to apply every event with the sink's LWW script (no coalescing): script calls
    of CALL_ITEMS events, pipelined a worker batch at a time."""
    settings = workload.for_run("redis-direct")
    store = open_redis(settings)
    tables = settings.tables
    try:
        # The sink's own script call and pipeline, minus the worker around them.
        sha = await store._script(LWW_SCRIPT)
        begin = time.perf_counter()
        for start in range(0, len(workload.events), PIPELINE):
            chunk = workload.events[start : start + PIPELINE]
            writes = [(e.item_id(tables[e.table]), e) for e in chunk]
            calls = [
                store.cdc_call(writes[i : i + CALL_ITEMS])
                for i in range(0, len(writes), CALL_ITEMS)
            ]
            await store._call_pipelined(sha, calls)
        return time.perf_counter() - begin
    finally:
        await store.close()


async def dynamodb_direct(workload: Workload) -> float:
    """Seconds to apply every event as one conditional PutItem each (no coalescing), through
    the sink's own client, so as many are in flight as the sink allows."""
    settings = workload.for_run("dynamodb-direct")
    await asyncio.to_thread(ensure_tables, settings.dynamodb, settings.tables)
    store = open_dynamodb(settings)
    try:
        begin = time.perf_counter()
        await asyncio.gather(*(store._write(store._request(event)) for event in workload.events))
        return time.perf_counter() - begin
    finally:
        await store.close()
