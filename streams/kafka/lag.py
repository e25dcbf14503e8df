"""Consumer lag in messages and in seconds, and a Burrow-style status per group.

The arithmetic is pure (`partition_lag`, `group_status`): tests and dashboards call it without
Kafka. `fetch_lag` and `sample_group` read the numbers from the broker.
"""

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from aiokafka.errors import KafkaError

from streams.kafka.clients import KafkaLike, as_kafka
from streams.kafka.topics import MissingTopicError, kafka_admin, partitions_of
from streams.model.tables import TableSpec, feed_topics


def partition_lag(committed: int | None, end: int) -> int:
    """Messages not yet committed; a partition never committed lags by all it holds."""
    return max(end - (committed or 0), 0)


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None
    end: int
    oldest_unconsumed_ms: int | None = None  # Kafka timestamp of the message at `committed`

    @property
    def lag(self) -> int:
        return partition_lag(self.committed, self.end)

    def lag_seconds(self, now_ms: int) -> float:
        """Age of the oldest message the group has not committed past; 0 when caught up."""
        if self.lag == 0 or self.oldest_unconsumed_ms is None:
            return 0.0
        return max(now_ms - self.oldest_unconsumed_ms, 0) / 1000


class Status(StrEnum):
    OK = "OK"
    LAGGING = "LAGGING"  # commits move, but the lag is not going down
    STALLED = "STALLED"  # lag > 0 and no commit progress in the window
    STOPPED = "STOPPED"  # no member in the group: nothing is consuming


@dataclass
class GroupSample:
    taken_ms: int
    members: int
    partitions: list[PartitionLag] = field(default_factory=list)

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def committed(self) -> int:
        return sum(p.committed or 0 for p in self.partitions)


def group_status(samples: Sequence[GroupSample]) -> Status:
    """Burrow's rules, over samples oldest first:
    - STOPPED: the group has no members now; a stopped consumer must not look healthy, even
      at zero lag;
    - OK: the lag is zero now, or it went down over the window;
    - STALLED: lag above zero and the committed offsets did not move over the window;
    - LAGGING: commits move but the lag did not go down.
    """
    last = samples[-1]
    if last.members == 0:
        return Status.STOPPED
    if last.lag == 0:
        return Status.OK
    first = samples[0]
    if len(samples) > 1 and last.committed == first.committed:
        return Status.STALLED
    if len(samples) > 1 and last.lag >= first.lag:
        return Status.LAGGING
    return Status.OK


def worst_status(statuses: Iterable[Status]) -> Status:
    """Of several groups (one per store), the status that needs attention first."""
    return max(statuses, key=_SEVERITY.index, default=Status.OK)


_SEVERITY = [Status.OK, Status.LAGGING, Status.STALLED, Status.STOPPED]


async def fetch_lag(
    kafka: KafkaLike, group: str, topic: str, with_times: bool = False
) -> list[PartitionLag]:
    consumer = as_kafka(kafka).consumer(enable_auto_commit=False)
    await consumer.start()
    try:
        async with kafka_admin(kafka) as admin:
            partitions = [TopicPartition(topic, p) for p in await partitions_of(admin, topic)]
            committed = await admin.list_consumer_group_offsets(group)
        ends = await consumer.end_offsets(partitions)
        lags = [
            PartitionLag(tp.partition, committed[tp].offset if tp in committed else None, ends[tp])
            for tp in partitions
        ]
        if with_times:
            lags = [await _with_oldest_time(consumer, topic, lag) for lag in lags]
    finally:
        await consumer.stop()
    return lags


async def _with_oldest_time(
    consumer: AIOKafkaConsumer, topic: str, lag: PartitionLag
) -> PartitionLag:
    """Read the first uncommitted message's timestamp (lag in seconds needs its age)."""
    if lag.lag == 0:
        return lag
    tp = TopicPartition(topic, lag.partition)
    consumer.assign([tp])
    consumer.seek(tp, lag.committed or 0)
    batch = await consumer.getmany(tp, timeout_ms=2000, max_records=1)
    records = batch.get(tp, [])
    oldest = records[0].timestamp if records else None
    return PartitionLag(lag.partition, lag.committed, lag.end, oldest)


async def group_members(kafka: KafkaLike, group: str, topic: str) -> int:
    """Members of `group` subscribed to `topic`: members consuming other topics do not make
    this one consumed."""
    async with kafka_admin(kafka) as admin:
        [response] = await admin.describe_consumer_groups([group])
    described = response.groups[0]  # (error, group, state, protocol type, protocol, members, ...)
    return sum(topic in _subscription(member[3]) for member in described[5])


def _subscription(metadata: bytes) -> list[str]:
    """The topics in a member's metadata (the consumer protocol's; [] for any other)."""
    try:
        return list(ConsumerProtocolMemberMetadata.decode(metadata).subscription)
    except Exception:  # noqa: BLE001 -- not a consumer's metadata: it consumes no topic
        return []


async def sample_group(kafka: KafkaLike, group: str, topic: str) -> GroupSample:
    partitions = await fetch_lag(kafka, group, topic, with_times=True)
    members = await group_members(kafka, group, topic)
    return GroupSample(int(time.time() * 1000), members, partitions)


async def watch_group(
    kafka: KafkaLike, group: str, topic: str, samples: int = 3, interval: float = 2.0
) -> tuple[list[GroupSample], Status]:
    taken = []
    for n in range(samples):
        if n:
            await asyncio.sleep(interval)
        taken.append(await sample_group(kafka, group, topic))
    return taken, group_status(taken)


async def fetch_lag_when_ready(
    kafka: KafkaLike, group: str, topic: str, with_times: bool = False
) -> list[PartitionLag]:
    """Like fetch_lag, but [] while the group's coordinator is still being elected or loaded
    (a fresh broker, a new group) or the topic is not created yet: states to wait out."""
    try:
        return await fetch_lag(kafka, group, topic, with_times)
    except MissingTopicError:  # the worker creates it as it starts
        return []
    except KafkaError as exc:
        if not exc.retriable:
            raise
        return []


async def consumed_topics(
    kafka: KafkaLike, tables: Mapping[str, TableSpec], changes: str
) -> list[str]:
    """The topics each store's group consumes: the changes topic first, then every declared
    table's own topic (a Debezium topic) that exists; one Connect has not created yet has no
    lag to show."""
    others = [topic for topic in feed_topics(tables, changes) if topic != changes]
    if not others:
        return [changes]
    async with kafka_admin(kafka) as admin:
        existing = set(await admin.list_topics())
    return [changes, *(topic for topic in others if topic in existing)]
