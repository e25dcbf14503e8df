"""Each store has a consumer group of its own, so one store's outage never holds the other back.

Versions before per-store groups fed both stores from one shared group (`CDC_GROUP_ID`); a
store's group that has no offsets yet starts where that shared group stopped, so an upgrade
does not replay the whole topic (a replay would be harmless, thanks to LWW, only slow).
"""

import logging
from collections.abc import Sequence

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from streams.kafka.clients import Kafka
from streams.kafka.topics import kafka_admin
from streams.model.errors import ReplicatorError
from streams.settings_parts import TopicSettings, WorkerSettings
from streams.stores import STORES

log = logging.getLogger(__name__)


class MissingGroupError(ReplicatorError):
    """A group named on the command line that the broker does not know."""

    def __init__(self, group: str, known: Sequence[str]) -> None:
        shown = ", ".join(known[:5]) + (f" and {len(known) - 5} more" if len(known) > 5 else "")
        super().__init__(
            f"no consumer group {group!r} on this Kafka cluster; "
            + (f"its groups: {shown}" if known else "it has no consumer group")
        )


async def require_group(kafka: Kafka, group: str) -> None:
    """Refuse a group the broker does not know: its lag would be the whole topic's, as if a
    stopped group had consumed nothing."""
    async with kafka_admin(kafka) as admin:
        known = sorted({str(listed[0]) for listed in await admin.list_consumer_groups()})
    if group not in known:
        raise MissingGroupError(group, known)


def store_group(worker: WorkerSettings, store: str) -> str:
    return f"{worker.group_id}-{store}"


def in_store_order(stores: Sequence[str]) -> list[str]:
    """In STORES' order, once each: the first store a worker feeds dead-letters malformed
    records, and a store named twice would get two feeds in one group but a single agent."""
    return sorted(set(stores), key=list(STORES).index)


async def committed_offsets(kafka: Kafka, group: str, topic: str) -> dict[TopicPartition, int]:
    async with kafka_admin(kafka) as admin:
        offsets = await admin.list_consumer_group_offsets(group)
    return {
        tp: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0
    }


async def copy_shared_group_offsets(
    kafka: Kafka, worker: WorkerSettings, changes: TopicSettings, group: str
) -> int:
    """Give `group` the shared group's offsets if it has none; return how many partitions."""
    if await committed_offsets(kafka, group, changes.name):
        return 0
    shared = await committed_offsets(kafka, worker.group_id, changes.name)
    if not shared:
        return 0
    consumer = kafka.consumer(group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(shared))
        await consumer.commit(shared)
    except KafkaError as exc:  # a member joined meanwhile: it starts from earliest, harmlessly
        log.warning("%s: offsets not copied from %s (%r)", group, worker.group_id, exc)
        return 0
    finally:
        await consumer.stop()
    log.info("%s starts where %s stopped (%d partitions)", group, worker.group_id, len(shared))
    return len(shared)
