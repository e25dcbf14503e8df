"""The contract of a snapshot source: chunks of items, each with a cursor to resume after it."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from streams.events import Version


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One item as a source holds it. `version` is set when the source knows the item's real
    version (a store this replicator wrote); otherwise the snapshot gives it the lowest one.
    `deleted` marks a tombstone the source still holds."""

    table: str
    key: dict[str, str]
    data: dict[str, Any]
    version: Version | None = None
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """Source data that cannot become an item: reported with the key it was found under."""

    key: str
    reason: str


@dataclass
class Chunk:
    """Items read together. After they are published, resuming from `cursor` loses nothing
    (it may repeat some items, which LWW makes harmless)."""

    items: list[SourceItem] = field(default_factory=list)
    problems: list[SourceProblem] = field(default_factory=list)
    cursor: str | None = None


class SnapshotSource(Protocol):
    name: str

    def chunks(self, cursor: str | None) -> AsyncIterator[Chunk]:
        """Chunks from the start, or from a cursor an earlier run checkpointed."""
        ...

    async def estimate(self) -> int | None:
        """Roughly how many items there are, for the ETA; None if unknown."""
        ...

    async def close(self) -> None: ...
