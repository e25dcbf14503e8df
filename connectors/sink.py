"""The contract every store implements: write a coalesced batch, read items back."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from streams.model.events import ChangeEvent, ItemId
from streams.model.tables import TableSpec

Item = dict[str, Any]
Batch = Mapping[ItemId, ChangeEvent]


@dataclass
class WriteOutcome:
    """What a store did with a batch; `retry` holds writes that met a transient failure."""

    applied: int = 0
    stale: int = 0
    rejected: list[tuple[ChangeEvent, str]] = field(default_factory=list)
    retry: dict[ItemId, ChangeEvent] = field(default_factory=dict)
    cause: BaseException | None = None
    retries: int = 0
    seconds: float = 0.0  # wall time until every write of the batch was settled

    def add_done(self, other: "WriteOutcome") -> None:
        """Count what `other` finished (its pending retries are not done yet)."""
        self.applied += other.applied
        self.stale += other.stale
        self.rejected.extend(other.rejected)


@dataclass(frozen=True, slots=True)
class StoredItem:
    """What a store holds for an item: its version token, and its data (None: a tombstone).
    `problem` says why a change event cannot carry the item unaltered (a DynamoDB set, say):
    such an item is reported, never compared nor repaired. `expired`: a live item past its
    expiry (no data), which verify does not count as drift."""

    version: str
    data: Item | None
    problem: str | None = None
    expired: bool = False

    @property
    def live(self) -> bool:
        return self.data is not None


class Store(Protocol):
    """A target store: version-guarded writes, plus the reads the CLI and verify use."""

    name: str

    async def write(self, batch: Batch) -> WriteOutcome:
        """Apply each write only if it is newer than what the store holds."""
        ...

    async def get(self, table: str, key: Mapping[str, str]) -> Item | None:
        """The live item with its key and data attributes, or None if absent or deleted."""
        ...

    async def list_partition(self, table: str, partition: str, limit: int) -> list[Item]:
        """A partition's listed items, greatest index attribute first, ties by sort key."""
        ...

    async def ping(self) -> None:
        """Return once the store answers; raise if it does not (readiness probes)."""
        ...

    async def close(self) -> None: ...


def listing_order(items: list[Item], spec: TableSpec, limit: int) -> list[Item]:
    """The first `limit` items in listing order: greatest index attribute first, equal ones
    by sort key (ascending), the same in every store. `items` must hold every item that ties
    with the last one kept."""
    index, sort = spec.index_attribute or "", spec.sort_key or spec.partition_key
    return sorted(items, key=lambda item: (-item[index], item[sort]))[:limit]
