"""Where a Debezium PostgreSQL record stands in the database's commit order: its version.

What a record carries (Debezium 3.6.1, pgoutput): `source.lsn`, the WAL position of the change
itself, and `source.sequence`, `["<last commit LSN>", "<lsn>"]`, the end of the last transaction
Debezium streamed before this one. Debezium streams transactions whole, in commit order, so:

- a change's position is `max(lsn, last commit)`: transactions never share one (each starts
  above the commit before it and stays below its own), and within one, `lsn` grows;
- a snapshot read (`op: r`) carries the snapshot's consistent point: every transaction streamed
  after it committed later, so at an equal position the read loses: ts = 2 x position for a read
  and 2 x position + 1 for a change;
- an incremental snapshot's read (`source.snapshot: incremental`, no `lsn`) is sent while
  Debezium streams the insert that closes its window, and carries that insert's `sequence`:
  every change streamed before it is older, every one after newer, and a change of the row in
  the window made Debezium drop the read. It ranks as a change at that position;
- the first transaction streamed after the connector starts without a last commit (after its
  initial snapshot) has `sequence` `[null, "<lsn>"]`, and its `lsn` may lie before the
  snapshot's consistent point (a transaction that wrote while the slot was being created and
  committed after it). Nothing in the record says where it committed; the Kafka partition
  does: Debezium sends it right after the snapshot's reads, and a row's records share a
  partition. So the decoder remembers, per partition, the consistent point of the reads it
  decoded last (`Trail.snapshot_at`), and ranks such a change at least there.

A Kafka tombstone (null value) carries no position at all: see `tombstone_version`.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.model import numbers
from streams.model.errors import InvalidEventError
from streams.model.events import MAX_TS, Version

ORIGIN_PREFIX = "debezium:"
MAX_LSN = MAX_TS // 2  # ts is 2 x position + 1, below 2^53
INCREMENTAL = "incremental"
INCREMENTAL_MARK = "i"  # after an incremental read's event id: apart from a change's


@dataclass
class Trail:
    """What the decoder saw last on one topic partition, in offset order, in this run."""

    offset: int = -1
    snapshot_at: int | None = None  # the consistent point of the reads decoded last
    deleted_key: bytes | None = None  # the record key, if the last record was a delete


def postgres_version(
    source: Mapping[str, Any], op: object, trail: Trail
) -> tuple[Version, int | None]:
    """The record's version, and the snapshot's consistent point if it is a snapshot read.
    `InvalidEventError` for a record without what its rank needs."""
    if source.get("connector", "postgresql") != "postgresql":
        raise InvalidEventError(
            "schema", f"source.connector {source.get('connector')!r}: only postgresql is read"
        )
    name = source.get("name")
    if type(name) is not str:
        raise InvalidEventError("schema", "source.name: a string is required")
    origin = ORIGIN_PREFIX + name
    if op == "r" and source.get("snapshot") == INCREMENTAL:
        position = _incremental_position(source.get("sequence"))
        trail.snapshot_at = None  # streaming is under way: no first transaction follows
        return Version(2 * position + 1, origin, f"{position:020d}{INCREMENTAL_MARK}"), None
    lsn = _lsn(source.get("lsn"), "source.lsn")
    if op == "r":
        return Version(2 * lsn, origin, f"{lsn:020d}"), lsn
    last_commit = _pair(source.get("sequence"))[0]
    if last_commit is None:  # the first transaction streamed: after the reads just decoded
        position = max(lsn, trail.snapshot_at or 0)
    else:
        position = max(lsn, last_commit)
        trail.snapshot_at = None
    return Version(2 * position + 1, origin, f"{lsn:020d}"), None


def tombstone_version(following: Version) -> Version:
    """Where a tombstone whose delete record is gone (compaction removed it) stands: just below
    the next record of its partition, which Debezium sent after that delete. So it is above
    everything the stores hold of its row from before the delete, and below any later change
    of the row. (The records before it tell nothing: compaction may have kept only older
    ones.) The version below: the event id's last character one less, then the greatest one;
    no Debezium record's version lies between the two."""
    event_id = following.event_id
    return following._replace(event_id=event_id[:-1] + chr(ord(event_id[-1]) - 1) + "~")


def _incremental_position(sequence: object) -> int:
    last_commit, lsn = _pair(sequence)
    if lsn is None and last_commit is None:
        raise InvalidEventError(
            "schema",
            "an incremental snapshot read without source.sequence: its place among the "
            "streamed changes is unknown",
        )
    return max(lsn or 0, last_commit or 0)


def _pair(sequence: object) -> tuple[int | None, int | None]:
    """`source.sequence`'s two LSNs, as text or numbers (None where null or absent)."""
    if sequence is None:
        return None, None
    try:
        pair = numbers.loads(sequence) if type(sequence) is str else sequence
        first, second = pair  # type: ignore[misc]
    except (ValueError, TypeError) as exc:
        raise InvalidEventError("schema", f"source.sequence: {sequence!r} is not a pair") from exc
    return _optional_lsn(first), _optional_lsn(second)


def _optional_lsn(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is str and value.isascii() and value.isdigit():
        value = int(value)
    return _lsn(value, "source.sequence")


def _lsn(value: object, where: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_LSN:
        raise InvalidEventError(
            "schema", f"{where}: an LSN (an integer up to {MAX_LSN}) is required"
        )
    return value
