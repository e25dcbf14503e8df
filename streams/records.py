"""The Kafka record as the replicator sees it, independent of the consumer library."""

from typing import NamedTuple


class Record(NamedTuple):  # a tuple: built for every message consumed, and cheap to build
    """One consumed message: where it came from and its raw bytes.

    Attributes:
        topic, partition, offset: its position, named in dead letters and in lag.
        key, value: raw bytes as published (value None for a Kafka tombstone).
        timestamp_ms: the broker or producer timestamp, for lag in seconds.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None
