"""Where a replay stops: the end offsets of its partitions when it started.

What is written after that start is not the replay's: the worker applies later changes, and
the letters a `dlq replay` appends again must wait for the next replay. So records past the
end are cut from the batch (never applied, never committed), and the replay stops once its
consumer's position reached the end of every partition.
"""

from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

Fetched = dict[TopicPartition, list[Any]]  # what one getmany returned


class EndOffsets:
    def __init__(self, ends: Mapping[TopicPartition, int]) -> None:
        self.ends = dict(ends)

    async def reached(self, consumer: AIOKafkaConsumer) -> bool:
        """Read up to the end everywhere? Positions, not records: compaction leaves gaps."""
        for tp, end in self.ends.items():
            if await consumer.position(tp) < end:
                return False
        return True

    def cut(self, fetched: Fetched) -> Fetched:
        """The fetched records before the end; a partition left with none is left out."""
        kept = {}
        for tp, messages in fetched.items():
            before = [m for m in messages if m.offset < self.ends.get(tp, 0)]
            if before:
                kept[tp] = before
        return kept
