"""The Kafka record as the replicator sees it, independent of the consumer library."""

from typing import NamedTuple, Protocol


class Record(Protocol):
    """One consumed message: where it came from and its raw bytes (value None for a Kafka
    tombstone). aiokafka's ConsumerRecord is one as it is: nothing is copied per message."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class RawRecord(NamedTuple):
    """A record rebuilt from what a dead letter recorded of it (dlq replay), or by a test."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
