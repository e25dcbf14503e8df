from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.model.events import SNAPSHOT_TS, ChangeEvent, ItemId
from streams.model.partial import NOTHING, UNKNOWN, Held, held_of, settled
from streams.model.tables import DEFAULT_TABLES, TableSpec
from streams.pipeline.lww import coalesce
from tests.support import delete, upsert, visible_state

TABLES = dict(DEFAULT_TABLES)


def test_coalesce_keeps_the_greatest_version_per_item() -> None:
    old, new, other = upsert("o", "p", 1), upsert("o", "p", 5), upsert("o", "q", 3)
    winners = coalesce([new, old, other, old], TABLES)
    assert winners == {ItemId("opponents", "o", "p"): new, ItemId("opponents", "o", "q"): other}


def test_ties_on_ts_are_broken_by_origin_then_event_id() -> None:
    a = upsert("o", "p", 7, origin="alpha", event_id="z")
    b = upsert("o", "p", 7, origin="beta", event_id="a")
    c = upsert("o", "p", 7, origin="beta", event_id="b")
    assert coalesce([c, b, a], TABLES)[ItemId("opponents", "o", "p")] is c


def test_a_newer_delete_hides_the_item_and_an_older_one_does_not() -> None:
    assert visible_state([upsert("o", "p", 1), delete("o", "p", 2)], TABLES) == {}
    kept = upsert("o", "p", 3)
    assert visible_state([kept, delete("o", "p", 2)], TABLES) == {
        ItemId("opponents", "o", "p"): kept.data
    }


# --- Partial upserts: attributes left unchanged keep the value of the newest older write. ---

ROWS = TableSpec(partition_key="id", format="debezium", source="pg.public.rows")
PARTIAL_TABLES = {"rows": ROWS}
ATTRIBUTES = ("body", "tags", "n")


def _write(i: int, ts: int, kind: str, values: dict[str, Any], unchanged: list[str]) -> ChangeEvent:
    fields: dict[str, Any] = {"table": "rows", "key": {"id": "7"}, "ts": ts, "origin": "pg",
                              "event_id": f"e{i}"}  # fmt: skip
    if kind == "delete":
        return ChangeEvent(op="delete", **fields)
    return ChangeEvent(op="upsert", data=values, unchanged=unchanged or None, **fields)


@st.composite
def partial_histories(draw: st.DrawFn) -> list[ChangeEvent]:
    """Distinct writes of one item (whole, partial, deletes; unique versions, some sharing a
    ts), each carrying a value of its own for the attributes it does not leave unchanged."""
    writes = []
    for i, ts in enumerate(draw(st.lists(st.integers(0, 12), min_size=1, max_size=8))):
        kind = draw(st.sampled_from(["whole", "partial", "partial", "delete"]))
        unchanged = [a for a in ATTRIBUTES if kind == "partial" and draw(st.booleans())]
        present = [a for a in ATTRIBUTES if a not in unchanged and draw(st.integers(0, 5))]
        writes.append(_write(i, ts, kind, {a: f"{a}{i}" for a in present}, unchanged))
    return writes


def in_version_order(writes: list[ChangeEvent]) -> dict[str, Any] | None:
    """The item after its writes applied one by one in version order (the second
    implementation the registers are checked against)."""
    state: dict[str, Any] | None = None
    for write in sorted({w.event_id: w for w in writes}.values(), key=lambda w: w.version):
        if write.op == "delete":
            state = None
        else:
            kept = {a: (state or {})[a] for a in write.unchanged or () if a in (state or {})}
            state = {**(write.data or {}), **kept}
    return state


def store_after(batches: list[list[ChangeEvent]], order: list[int]) -> Held:
    """A store applying each batch, coalesced, in `order`, as both stores do (`settled`)."""
    held = NOTHING
    coalesced = [coalesce(batch, PARTIAL_TABLES) for batch in batches]
    for i in order:
        for write in coalesced[i].values():
            held = settled(held, held_of(write), write.version.fills_only) or held
    return held


@settings(max_examples=500, deadline=None)
@given(writes=partial_histories(), data=st.data())
def test_partial_upserts_end_as_in_version_order_for_every_arrival_order_and_batching(
    writes: list[ChangeEvent], data: st.DataObject
) -> None:
    """Any order, cut into batches (coalesced, as the replicator does), batches applied in any
    order (parts racing, dead letters replayed late), some delivered again: the store holds
    what the writes give applied one by one in version order, a hole where no older write
    carried an unchanged attribute."""
    deliveries = data.draw(st.permutations(writes + data.draw(st.lists(st.sampled_from(writes)))))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(deliveries)), max_size=4)))
    bounds = [0, *cuts, len(deliveries)]
    batches = [deliveries[a:b] for a, b in pairwise(bounds) if b > a]
    order = data.draw(st.permutations(range(len(batches))))
    held = store_after(batches, order)
    expected = in_version_order(writes)
    assert held.data == expected, (held, expected)
    newest = max(writes, key=lambda w: w.version)
    assert held.version == newest.version.token()
    if expected is not None and newest.unchanged:
        assert set(held.holes) == set(newest.unchanged) - set(expected)


def test_a_partial_upsert_over_an_older_whole_one_in_its_batch_takes_the_kept_value() -> None:
    whole = _write(1, 1, "whole", {"body": "long text", "n": 1}, [])
    partial = _write(2, 2, "partial", {"n": 2}, ["body"])
    for batch in ([whole, partial], [partial, whole]):
        [write] = coalesce(batch, PARTIAL_TABLES).values()
        assert (write.data, write.unchanged) == ({"n": 2, "body": "long text"}, [])
        assert settled(NOTHING, held_of(write)) == Held(
            partial.version.token(), {"n": 2, "body": "long text"}, {"body": whole.version.token()}
        )


def test_over_a_delete_a_partial_upsert_has_nothing_to_keep() -> None:
    gone = _write(1, 1, "delete", {}, [])
    partial = _write(2, 2, "partial", {"n": 2}, ["body"])
    [write] = coalesce([gone, partial], PARTIAL_TABLES).values()
    assert write.data == {"n": 2} and write.unchanged == []
    held = settled(Held("0000000000000000 pg e0", {"body": "old"}), held_of(write))
    assert held is not None and held.data == {"n": 2} and held.holes == ["body"]


def test_an_older_whole_write_arriving_late_fills_what_the_partial_one_kept() -> None:
    """The store took the partial write over an item it held from before the whole one (a
    dead letter replayed late): the whole write, older than the item, still settles body."""
    first = _write(0, 0, "whole", {"body": "v0", "n": 0}, [])
    whole = _write(1, 1, "whole", {"body": "v1", "n": 1}, [])
    partial = _write(2, 2, "partial", {"n": 2}, ["body"])
    held = settled(held_of(first), held_of(partial))
    assert held is not None and held.data == {"n": 2, "body": "v0"}
    later = settled(held, held_of(whole))
    assert later is not None and later.data == {"n": 2, "body": "v1"}
    assert later.older == {"body": whole.version.token()}
    assert settled(later, held_of(first)) is None  # older than body's origin: stale


def test_a_snapshot_fills_a_hole_of_unknown_origin_and_changes_nothing_else() -> None:
    partial = _write(2, 2, "partial", {"n": 2}, ["body"])
    held = settled(NOTHING, held_of(partial))
    assert held is not None and held.holes == ["body"]
    snapshot = ChangeEvent(table="rows", op="upsert", key={"id": "7"}, ts=SNAPSHOT_TS,
                           origin="snapshot:pg", event_id="s",
                           data={"body": "b", "n": 0})  # fmt: skip
    filled = settled(held, held_of(snapshot), snapshot.version.fills_only)
    assert filled is not None and filled.data == {"n": 2, "body": "b"} and not filled.holes
    assert settled(filled, held_of(snapshot), True) is None


def test_a_partial_upsert_keeps_a_value_written_before_the_replicator() -> None:
    """A DynamoDB item written before the replicator has no version: its value is kept."""
    partial = _write(2, 2, "partial", {"n": 2}, ["body"])
    held = settled(Held(UNKNOWN, {"body": "from the migration", "n": 1}), held_of(partial))
    assert held is not None and held.data == {"n": 2, "body": "from the migration"}
    assert held.holes == [] and held.older == {"body": UNKNOWN}
