"""What turns a Kafka record into change events, as Kafka Connect's `Converter` turns bytes into
Connect data: one interface, `Decoder`, for our `cdc-v1` envelope (`CdcDecoder`) and Debezium's
(streams/pipeline/debezium.py); the replicator picks one by the record's topic."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from streams.kafka.records import Record
from streams.model.errors import InvalidEventError
from streams.model.events import ChangeEvent, decode_event
from streams.model.tables import TableSpec


@dataclass(slots=True)
class Decoded:
    """What some records became: events with their record, records that cannot apply (one
    letter a record), and null-value records skipped (they changed nothing)."""

    events: list[tuple[ChangeEvent, Record]] = field(default_factory=list)
    problems: list[tuple[Record, InvalidEventError]] = field(default_factory=list)
    skipped_tombstones: int = 0


class Decoder(Protocol):
    def decode_into(self, record: Record, done: Decoded) -> None:
        """Add one record's events to `done`, or the reason it can never apply (a batch's
        records share one `Decoded`: nothing is made per record that the batch drops)."""
        ...


class CdcDecoder:
    """Our `cdc-v1` envelope (streams/model/events.py), one event a record. A Kafka tombstone
    (no value) on the changes topic is skipped: our deletes are events."""

    def __init__(self, tables: Mapping[str, TableSpec]) -> None:
        self.tables = dict(tables)

    def decode_into(self, record: Record, done: Decoded) -> None:
        raw = record.value
        if raw is None:
            done.skipped_tombstones += 1
            return
        try:
            done.events.append((decode_event(raw, self.tables), record))
        except InvalidEventError as exc:
            done.problems.append((record, exc))
