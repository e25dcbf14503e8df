"""The contract every store implements: write a coalesced batch (`StoreWrites`, all the
replicator needs), read items back (`StoreReads`, for verify and the CLI); `Store` is both."""

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from streams.model.errors import AccessRefusedError, Reason, ReplicatorError
from streams.model.events import ChangeEvent, ItemId
from streams.model.tables import TableSpec

Item = dict[str, Any]
Batch = Mapping[ItemId, ChangeEvent]
# What a store makes of a failed write, in the words of the outcomes table (streams.outcomes):
# exit_2 (access refused: credentials or permissions, which only an operator can fix), retry
# (transient: wait and write again), dead_letter (this write can never succeed). None: not a
# store error at all, but a bug, raised as it is.
WriteErrorOutcome = Literal["exit_2", "retry", "dead_letter"]
OutcomeReader = Callable[[BaseException], WriteErrorOutcome | None]
# The dead-letter reason of a write Redis refused because another item owns its key.
KEY_COLLISION: Reason = "key_collision"


@dataclass
class WriteOutcome:
    """What a store did with a batch; `retry` holds writes that met a transient failure."""

    applied: int = 0
    stale: int = 0
    rejected: list[tuple[ChangeEvent, str]] = field(default_factory=list)
    # The dead-letter reason of a rejection, by id of its event, when it is not
    # REJECTED_BY_STORE (a Redis key another item owns: KEY_COLLISION).
    reasons: dict[int, Reason] = field(default_factory=dict)
    retry: dict[ItemId, ChangeEvent] = field(default_factory=dict)
    cause: BaseException | None = None
    retries: int = 0
    seconds: float = 0.0  # wall time until every write of the batch was settled
    # Items written holding no value of some attributes a partial upsert left unchanged (no
    # write carried one: streams/model/partial.py), with those attributes.
    holes: dict[ItemId, list[str]] = field(default_factory=dict)

    def add_done(self, other: "WriteOutcome") -> None:
        """Count what `other` finished (its pending retries are not done yet)."""
        self.applied += other.applied
        self.stale += other.stale
        self.rejected.extend(other.rejected)
        self.reasons.update(other.reasons)
        self.holes.update(other.holes)

    def count(
        self,
        item: ItemId,
        event: ChangeEvent,
        result: bool | BaseException,
        store: str,
        outcome_of: OutcomeReader,
    ) -> None:
        """Count one write: True applied, False stale (the store held the same or a newer
        version), an error by the outcome `store` reads it as."""
        if result is True:
            self.applied += 1
            return
        if result is False:
            self.stale += 1
            return
        outcome = outcome_of(result)
        if outcome == "exit_2":
            raise AccessRefusedError(store, result) from result
        if outcome == "retry":
            self.retry[item] = event
            self.cause = result
        elif outcome == "dead_letter":
            self.rejected.append((event, f"{store}: {result}"))
        else:
            raise result


class UnreadableItemsError(ReplicatorError):
    """A store holds what no change event can carry where an item should be (bytes that are
    not UTF-8, JSON that does not parse, another item's data): each problem names its key.
    `items` holds what could be read (a listing's other items)."""

    def __init__(self, problems: Sequence[str], items: Sequence[Item] = ()) -> None:
        super().__init__("; ".join(problems))
        self.problems, self.items = list(problems), list(items)


@dataclass(frozen=True, slots=True)
class StoredItem:
    """What a store holds for an item: its version token, and its data (None: a tombstone).
    `problem` says why a change event cannot carry the item unaltered (a DynamoDB set, say):
    such an item is reported, never compared nor repaired. `expired`: a live item past its
    expiry (no data), which verify does not count as drift. `unlisted`: why Redis's listing
    index does not list the item as its data says. `foreign`: the item's key holds another
    item (`problem` names it), so this one is not in the store."""

    version: str
    data: Item | None
    problem: str | None = None
    expired: bool = False
    unlisted: str | None = None
    foreign: bool = False

    @property
    def live(self) -> bool:
        return self.data is not None


@dataclass
class Strays:
    """Keys met while paging a table that belong to none of its items: bookkeeping an earlier
    layout or key template left (live items' never expires). Not compared; counted, a few named."""

    count: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, key: str) -> None:
        self.count += 1
        if len(self.samples) < 3:
            self.samples.append(key)


class StoreWrites(Protocol):
    """What the replicator needs of a store, as Kafka Connect's `SinkTask` and Quix's
    `BaseSink` are: write a coalesced batch, answer a probe, close. Its setup (tables, layouts)
    needs the settings, so it is the store's `prepare` in streams/stores.py's registry."""

    name: str
    # The replicator decodes, coalesces and writes a batch in parts of this many records, each
    # part's writes sent before the next is decoded (0: the whole batch at once).
    part_records: int

    async def write(self, batch: Batch) -> WriteOutcome:
        """Apply each write only if it is newer than what the store holds; an event the store
        cannot hold is rejected, for this store alone."""
        ...

    async def ping(self) -> None:
        """Return once the store answers; raise if it does not (readiness probes)."""
        ...

    async def close(self) -> None: ...


class StoreReads(Protocol):
    """What verify and the CLI read from a store."""

    name: str

    @property
    def tables(self) -> Mapping[str, TableSpec]:
        """The tables it holds, by name."""
        ...

    def cannot_hold(self, event: ChangeEvent) -> str | None:
        """Why this store would reject `event` whatever it holds (a size or number beyond its
        limits), or None."""
        ...

    async def get(self, table: str, key: Mapping[str, str]) -> Item | None:
        """The live item with its key and data attributes, or None if absent or deleted;
        UnreadableItemsError when what the store holds there cannot be read as it."""
        ...

    async def list_partition(self, table: str, partition: str, limit: int) -> list[Item]:
        """A partition's listed items, greatest index attribute first, ties by sort key;
        UnreadableItemsError, holding the others, when some cannot be read."""
        ...

    async def read_many(self, table: str, items: Sequence[ItemId]) -> dict[ItemId, StoredItem]:
        """What the store holds of these items of `table`, tombstones included; an item it
        does not hold is absent from the answer."""
        ...

    def item_pages(
        self, table: str, page_size: int = 1000, strays: Strays | None = None
    ) -> AsyncIterator[list[tuple[ItemId, StoredItem]]]:
        """Every item of `table` the store holds (tombstones included), a page at a time, each
        once per page; keys it passes that hold no item are counted in `strays`."""
        ...

    async def close(self) -> None: ...


class Store(StoreWrites, StoreReads, Protocol):
    """A target store, as each store package implements it: version-guarded writes for the
    replicator, reads for verify and the CLI."""


def listing_order(items: list[Item], spec: TableSpec, limit: int) -> list[Item]:
    """The first `limit` items in listing order: greatest index attribute first, equal ones
    by sort key (ascending), the same in every store. `items` must hold every item that ties
    with the last one kept."""
    index, sort = spec.index_attribute or "", spec.sort_key or spec.partition_key
    return sorted(items, key=lambda item: (-item[index], item[sort]))[:limit]
