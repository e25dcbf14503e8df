"""The Redis workload again, as Debezium would send it: the drain rate of the `debezium` format
beside `cdc-v1`'s, both measured in each run.

Each event becomes what Kafka Connect's JSON converter writes for a PostgreSQL row (schema
included, the default): an upsert is `op: u` with the whole row in `after`, a delete `op: d`
with the key in `before`, and the version rides in `source.lsn` (the event's `ts`, so the
shuffled versions and duplicates are the same as the cdc-v1 workload's). The null-value
record Debezium sends after a delete is left out, so both topics hold the same records.
"""

import argparse
import asyncio
import json
import uuid
from dataclasses import dataclass

from bench import ours
from bench.cpu import CpuMeter
from bench.report import Row, ratio_of
from bench.workload import Workload, make_events, publish_workload
from streams.kafka.clients import Kafka
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.model.events import ChangeEvent
from streams.settings import Settings

SOURCE = "bench.public.opponents"
# The row's columns as Debezium types them: the worker decodes each value by its field schema.
KEY_FIELDS = [{"type": "string", "optional": False, "field": "owner_id"},
              {"type": "string", "optional": False, "field": "opponent_id"}]  # fmt: skip
ROW = {"type": "struct", "optional": True, "fields": [
    *KEY_FIELDS, {"type": "string", "optional": True, "field": "metadata"},
    {"type": "int64", "optional": True, "field": "timestamp"},
]}  # fmt: skip
SCHEMA = {"type": "struct", "name": "bench.public.opponents.Envelope", "optional": False,
          "fields": [{**ROW, "field": "before"}, {**ROW, "field": "after"}]}  # fmt: skip
KEY = {"type": "struct", "optional": False, "fields": KEY_FIELDS}


def record(event: ChangeEvent) -> tuple[bytes, bytes]:
    """The key and value Debezium's JSON converter writes for `event`."""
    deleted = event.op == "delete"
    source = {"version": "3.6.1.Final", "connector": "postgresql", "name": "bench",
              "ts_ms": event.ts // 1000, "snapshot": "false", "db": "app", "sequence": None,
              "schema": "public", "table": "opponents", "txId": 1, "lsn": event.ts,
              "xmin": None}  # fmt: skip
    row = {**event.key, **(event.data or {})}
    payload = {"before": row if deleted else None, "after": None if deleted else row,
               "source": source, "op": "d" if deleted else "u",
               "ts_ms": event.ts // 1000}  # fmt: skip
    key = {"schema": KEY, "payload": event.key}
    return json.dumps(key).encode(), json.dumps({"schema": SCHEMA, "payload": payload}).encode()


@dataclass(frozen=True)
class DebeziumWorkload(Workload):
    """The events as Debezium records on `topic`; each run's table reads that topic."""

    topic: str = ""

    def for_run(self, tag: str) -> Settings:
        settings = super().for_run(tag)
        table = settings.tables["opponents"].model_copy(
            update={"format": "debezium", "source": SOURCE, "topic": self.topic}
        )
        return settings.model_copy(update={"tables": {"opponents": table}})


async def publish(base: Settings, events: list[ChangeEvent]) -> DebeziumWorkload:
    """A Debezium topic holding `events`, partitioned by key as Connect's producer does."""
    empty = await publish_workload(base, [], "debezium-changes")  # the worker reads it too
    topic = f"bench-debezium-{uuid.uuid4().hex[:6]}"
    kafka = Kafka.of(base.kafka)
    await ensure_topics(kafka, [TopicSpec(topic, base.topic_partitions, 1, {})])
    producer = kafka.producer(acks="all", linger_ms=20)
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key) for key, value in map(record, events)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return DebeziumWorkload(events, empty.settings, topic)


def rows(base: Settings, args: argparse.Namespace, meter: CpuMeter) -> list[Row]:
    """Ours -> Redis from the same workload in either format, drained one after the other in
    each run, and the Debezium rate as a share of cdc-v1's."""
    print(f"Kafka -> Redis, Debezium format vs cdc-v1: {args.events:,} events")
    events = make_events(args.events, args.items)
    cdc_v1 = asyncio.run(publish_workload(base, events, "cdc-v1"))
    debezium = asyncio.run(publish(base, events))
    theirs, mine = list[float](), list[float]()
    for run in range(args.runs):
        theirs.append(len(events) / ours.drain(cdc_v1, "redis", meter).seconds)
        mine.append(len(events) / ours.drain(debezium, "redis", meter).seconds)
        print(f"  run {run + 1}: cdc-v1 {theirs[-1]:,.0f}/s, debezium {mine[-1]:,.0f}/s",
              flush=True)  # fmt: skip
    share = ratio_of(mine, theirs)
    return [
        Row("Ours -> Redis, Debezium JSON records (schema included)", "events/s", mine,
            f"{100 * share:.0f}% of cdc-v1 in the same run"),
        Row("Ours -> Redis, the same events as cdc-v1 (for the ratio)", "events/s", theirs),
    ]  # fmt: skip
