"""Partial upserts: attributes a write does not carry keep the values a store holds, exactly, in
every arrival order.

Debezium sends no value for a column PostgreSQL stored out of line (TOAST) that an UPDATE left
unchanged, under REPLICA IDENTITY DEFAULT: such a row becomes an upsert naming those attributes
`unchanged`. Their value is the one the newest older write of the item carried, so each
attribute is a last-writer-wins register of its own. Beside the item's version, a store keeps,
for each attribute whose value came from an older write, that write's version token
(`Held.older`). Any write, newer or older than the item, then settles each such attribute by the
greater of two origins (`join`: commutative, associative and idempotent), so replays,
redeliveries, dead letters replayed late and writes racing each other end in the state the
writes give in version order:

- an upsert carries each attribute of `data` at its own version and its `unchanged` ones at no
  version (UNKNOWN, below every token): a store fills those from what it holds;
- a delete carries every attribute as absent, at its version;
- an item no store holds is absent at UNKNOWN.

An attribute whose origin carried no value (no older write did, or the newest older write
deleted the item) is a hole: absent from the data and listed by `holes`, until a write carries
it (a later change, `verify --source postgres --repair`, or a snapshot, whose lowest version
still fills an UNKNOWN origin).
"""

from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from streams.model.events import ChangeEvent

UNKNOWN = ""  # the origin of a value no write carried: version tokens all sort above it


class PartialUpsert(ChangeEvent):
    """Never on the wire: a partial upsert coalesced with the older writes of its item in one
    batch. `older` names the origin of each attribute one of them settled (its value in
    `data`, or a hole); `unchanged` keeps those still left to the store."""

    older: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Held:
    """An item as the registers see it: its version token (UNKNOWN: nothing held), its data
    (None: deleted, or nothing held) and the origin of each attribute older than the item."""

    version: str
    data: dict[str, Any] | None
    older: dict[str, str] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.data is not None or self.version != UNKNOWN

    @property
    def holes(self) -> list[str]:
        """The attributes the item has at its version but holds no value of."""
        data = self.data or {}
        return [name for name in self.older if name not in data]

    def origin(self, name: str) -> tuple[str, bool, Any]:
        """The version the value of `name` came from, whether there is one, and the value."""
        if self.data is None:
            return self.version, False, None
        if name in self.data:
            return self.older.get(name, self.version), True, self.data[name]
        return self.older.get(name, self.version), False, None


NOTHING = Held(UNKNOWN, None)


def kept_attributes(event: ChangeEvent) -> list[str]:
    """The attributes a partial upsert does not carry a value of from its own version."""
    older = list(event.older) if isinstance(event, PartialUpsert) else []
    return [*(event.unchanged or ()), *older]


def held_of(event: ChangeEvent) -> Held:
    """A write as the state it carries."""
    token = event.version.token()
    if event.op == "delete":
        return Held(token, None)
    older = dict.fromkeys(event.unchanged or (), UNKNOWN)
    if isinstance(event, PartialUpsert):
        older.update(event.older)
    return Held(token, dict(event.data or {}), older)


def join(a: Held, b: Held) -> Held:
    """Both states in one: the newer item, each of its older attributes by the greater origin."""
    newer, other = (a, b) if a.version >= b.version else (b, a)
    if newer.data is None or not newer.older:
        return newer
    data, older = dict(newer.data), dict(newer.older)
    for name, origin in newer.older.items():
        theirs, has_value, value = other.origin(name)
        # A value beats none from the same origin: an item written before the replicator has
        # no version, the origin of its values as unknown as a hole's.
        if (theirs, has_value) <= (origin, name in data):
            continue
        if theirs == newer.version:  # the same version carried it: no older origin
            del older[name]
        else:
            older[name] = theirs
        if has_value:
            data[name] = value
        else:
            data.pop(name, None)
    return Held(newer.version, data, older)


def settled(held: Held, write: Held, fills_only: bool = False) -> Held | None:
    """What a store holding `held` must hold after `write`, or None when it stays as it is.
    A snapshot's lowest version (`fills_only`) creates an item, or fills its holes of unknown
    origin, and never changes anything else, whatever the versions."""
    if fills_only and held.exists and write.version > held.version:
        return None  # an item written before the replicator has no version to compare
    after = join(held, write)
    return None if after == held else after


def as_write(top: ChangeEvent, state: Held) -> ChangeEvent:
    """The one write a batch sends for an item whose newest write `top` is partial: `state`
    (the batch's writes of the item joined) as a `PartialUpsert`."""
    if state.data is None or not state.older:
        return top if state.data is None else top.model_copy(update={"unchanged": None})
    unchanged = [name for name, origin in state.older.items() if origin == UNKNOWN]
    known = {name: origin for name, origin in state.older.items() if origin != UNKNOWN}
    fields = top.model_dump(exclude={"data", "unchanged", "older"})
    return PartialUpsert.model_construct(
        **fields, data=state.data, unchanged=unchanged, older=known
    )
