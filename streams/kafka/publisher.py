"""Publish change events: the API services call, with an idempotent producer and acks=all."""

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from streams.kafka.clients import KafkaLike, as_kafka
from streams.kafka.partitioning import partition_for
from streams.kafka.topics import require_topic
from streams.model.events import ChangeEvent, check_against_table
from streams.model.tables import TableSpec


class Publisher:
    """`upsert` and `delete` fill in `ts`, `origin` and `event_id`; one item's events share a
    partition because the message key is the item's identity.

    `ts` comes from the wall clock but never repeats or goes back within one publisher, so two
    writes of one item from one service are ordered as they were made.

    `start` refuses a topic that does not exist (MissingTopicError, saying to run
    `cdc-replicator init`) rather than let the first send auto-create it with the broker's
    defaults: one partition and retention that deletes history.
    """

    def __init__(
        self,
        kafka: KafkaLike,
        topic: str,
        tables: Mapping[str, TableSpec],
        origin: str,
        **producer_options: Any,
    ) -> None:
        self.topic = topic
        self.tables = dict(tables)
        self.origin = origin
        self._last_ts = 0
        self._kafka = as_kafka(kafka)
        self._producer = self._kafka.producer(
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_batch_size=512 * 1024,
            **producer_options,
        )

    async def start(self) -> None:
        try:
            await require_topic(self._kafka, self.topic)
            await self._producer.start()
        except BaseException:
            await self._producer.stop()  # closes what it opened; no unclosed-producer warning
            raise

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> "Publisher":
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def next_ts(self) -> int:
        self._last_ts = max(time.time_ns() // 1000, self._last_ts + 1)
        return self._last_ts

    def event(
        self, table: str, op: str, key: Mapping[str, str], data: Mapping[str, Any] | None
    ) -> ChangeEvent:
        return ChangeEvent.model_validate(
            {
                "table": table,
                "op": op,
                "key": dict(key),
                "data": dict(data) if data is not None else None,
                "ts": self.next_ts(),
                "origin": self.origin,
                "event_id": str(uuid.uuid4()),
            }
        )

    async def upsert(
        self, table: str, key: Mapping[str, str], data: Mapping[str, Any]
    ) -> ChangeEvent:
        event = self.event(table, "upsert", key, data)
        await self.publish([event])
        return event

    async def delete(self, table: str, key: Mapping[str, str]) -> ChangeEvent:
        event = self.event(table, "delete", key, None)
        await self.publish([event])
        return event

    async def publish(self, events: Iterable[ChangeEvent], *, checked: bool = False) -> int:
        """Send events and wait until all are acked; each is checked against the declared
        tables first unless the caller already did (`checked`)."""
        messages = []
        for event in events:
            if not checked:
                check_against_table(event, self.tables)
            messages.append((event.item_id(self.tables[event.table]).kafka_key(), event.to_json()))
        await self.send_messages(messages)
        return len(messages)

    async def send_messages(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Keyed messages, one record batch per partition at a time (the partition Kafka's
        default partitioner picks): far less work per message than one send() each."""
        if not messages:
            return
        partitions = sorted(await self._producer.partitions_for(self.topic))
        by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        for key, value in messages:
            by_partition[partitions[partition_for(key, len(partitions))]].append((key, value))
        futures = []
        for partition, items in by_partition.items():
            batch = self._producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    futures.append(
                        await self._producer.send_batch(batch, self.topic, partition=partition)
                    )
                    batch = self._producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            futures.append(await self._producer.send_batch(batch, self.topic, partition=partition))
        await asyncio.gather(*futures)

    async def send_raw(self, value: bytes | None, key: bytes | None = None) -> None:
        """Publish bytes as they are (None: a Kafka tombstone): for tests and tools that need
        malformed input."""
        await self._producer.send_and_wait(self.topic, value, key=key)
