"""Consumer lag: how far a group's committed offsets are behind the end of each partition."""

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError


def partition_lag(committed: int | None, end: int) -> int:
    """Messages not yet committed; a partition never committed lags by all it holds."""
    return max(end - (committed or 0), 0)


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        return partition_lag(self.committed, self.end)


async def fetch_lag(bootstrap: str, group: str, topic: str) -> list[PartitionLag]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        [described] = await admin.describe_topics([topic])
        numbers = sorted(p["partition"] for p in described["partitions"])
        partitions = [TopicPartition(topic, p) for p in numbers]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
        await admin.close()
    return [
        PartitionLag(tp.partition, committed[tp].offset if tp in committed else None, ends[tp])
        for tp in partitions
    ]


async def fetch_lag_when_ready(bootstrap: str, group: str, topic: str) -> list[PartitionLag]:
    """Like fetch_lag, but [] while the group's coordinator is still being elected or loaded
    (a fresh broker, a new group): that is a state to wait out, not an error."""
    try:
        return await fetch_lag(bootstrap, group, topic)
    except KafkaError as exc:
        if not exc.retriable:
            raise
        return []
