"""The contract of a snapshot source: chunks of items, each with a cursor to resume after it."""

import re
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from streams.model.events import Version


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One item as a source holds it. `version` is set when the source knows the item's real
    version (a store this replicator wrote); otherwise the snapshot gives it the lowest one.
    `deleted` marks a tombstone the source still holds; `where` names the place a source
    without keys of its own found it (a file's line), for reports."""

    table: str
    key: dict[str, str]
    data: dict[str, Any]
    version: Version | None = None
    deleted: bool = False
    where: str = ""


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


@dataclass(frozen=True)
class Part:
    """Part `index` (from 0) of `count`, for snapshotting one source in parallel processes.

    Every item falls in exactly one part, decided by something that does not change between
    runs (a key's hash, a Scan segment), so each part resumes from its own checkpoint."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> "Part":
        """'K/N': the K-th of N parts, K counted from 1."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise ValueError(f"expected K/N with 1 <= K <= N, got {text!r}")
        return cls(int(match[1]) - 1, int(match[2]))

    def owns(self, stable: bytes) -> bool:
        return self.count == 1 or zlib.crc32(stable) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index + 1}/{self.count}"


WHOLE = Part()


class SnapshotSource(Protocol):
    name: str

    def chunks(self, cursor: str | None) -> AsyncIterator[Chunk]:
        """Chunks from the start, or from a cursor an earlier run checkpointed."""
        ...

    async def estimate(self) -> int | None:
        """Roughly how many items there are, for the ETA; None if unknown."""
        ...

    async def close(self) -> None: ...
