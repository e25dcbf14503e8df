"""The version a repair from the PostgreSQL table carries: one that every store takes."""

import pytest

from connectors.sources.snapshot_source import SourceItem, SourceProblem
from streams.model.events import ItemId, Version
from streams.verify.against_source import table_repair_event
from tests.support.debezium import USERS

TABLES = {"users": USERS}
ITEM = ItemId("users", "7", "")
ROW = SourceItem("users", {"user_id": "7"}, {"name": "Ada"})
DEBEZIUM = Version(2 * 500 + 1, "debezium:pg", f"{500:020d}").token()
SNAPSHOT = Version(0, "snapshot:postgres", "abc").token()


def test_a_repair_is_just_above_the_newest_version_either_store_holds() -> None:
    behind = Version(2**52, "test", "drift").token()
    event = table_repair_event(ITEM, ROW, [DEBEZIUM, behind], "postgres", TABLES)
    assert event is not None and event.data == {"name": "Ada"}
    assert Version.from_token(behind) < event.version
    assert event.version == Version(2**52, "test", "drift!")


def test_a_row_gone_from_the_table_is_a_delete_above_what_the_stores_hold() -> None:
    event = table_repair_event(ITEM, None, [DEBEZIUM], "postgres", TABLES)
    assert event is not None and (event.op, event.key) == ("delete", {"user_id": "7"})
    assert event.version > Version.from_token(DEBEZIUM)
    assert event.version < Version(2 * 501, "debezium:pg", f"{501:020d}")  # a later change wins


def test_an_item_no_store_holds_is_filled_and_a_snapshots_version_is_beaten() -> None:
    filled = table_repair_event(ITEM, ROW, [], "postgres", TABLES)
    assert filled is not None and filled.version.fills_only
    assert table_repair_event(ITEM, None, [], "postgres", TABLES) is None  # nothing to do
    above = table_repair_event(ITEM, ROW, [SNAPSHOT], "postgres", TABLES)
    assert above is not None and not above.version.fills_only


def test_a_row_that_cannot_be_compared_or_a_malformed_version_is_not_repaired() -> None:
    with pytest.raises(ValueError, match="not compared"):
        table_repair_event(ITEM, SourceProblem("k", "not compared"), [DEBEZIUM], "pg", TABLES)
    with pytest.raises(ValueError, match="not a version token"):
        table_repair_event(ITEM, ROW, ["junk"], "postgres", TABLES)
