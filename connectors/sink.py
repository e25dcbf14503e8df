"""The contract every store implements: write a coalesced batch, read items back."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from streams.events import ChangeEvent, ItemId

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
    """What a store holds for an item: its version token, and its data (None: a tombstone)."""

    version: str
    data: Item | None

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
        """A partition's listed items, greatest index attribute first."""
        ...

    async def close(self) -> None: ...
