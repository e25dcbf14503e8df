from streams.model.events import ItemId
from streams.model.tables import DEFAULT_TABLES
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
