"""verify's classification and repair, without stores."""

from decimal import Decimal

import pytest

from connectors.redis.index_check import why_unlisted
from connectors.store import StoredItem
from streams.model.events import ItemId, Version
from streams.model.tables import DEFAULT_TABLES
from streams.verify.compare import Drift, classify, repair_event

TABLES = dict(DEFAULT_TABLES)
OLD, NEW = Version(1, "svc", "a").token(), Version(2, "svc", "b").token()
ITEM = ItemId("opponents", "o", "p")


def live(version: str, **data: object) -> StoredItem:
    return StoredItem(version, dict(data) or {"metadata": "x"})


def tomb(version: str) -> StoredItem:
    return StoredItem(version, None)


def expired(version: str) -> StoredItem:
    return StoredItem(version, None, expired=True)


@pytest.mark.parametrize(
    ("redis", "dynamo", "kind"),
    [
        (live(OLD), live(OLD), None),
        (None, None, None),
        (tomb(OLD), None, None),
        (tomb(OLD), tomb(NEW), None),
        (None, live(OLD), "missing_in_redis"),
        (tomb(OLD), live(NEW), "missing_in_redis"),
        (live(OLD), None, "missing_in_dynamodb"),
        (live(OLD), tomb(NEW), "version_differs"),
        (live(OLD, metadata="a"), live(OLD, metadata="b"), "data_differs"),
        (live(OLD), live(NEW), "version_differs"),
        # Expired: gone, with its version; one store may expire a version a moment first.
        (expired(OLD), live(OLD), None),
        (live(OLD), expired(OLD), None),
        (expired(OLD), None, None),
        (expired(OLD), live(NEW), "missing_in_redis"),
        (live(OLD), expired(NEW), "version_differs"),
    ],
)
def test_classify(redis: StoredItem | None, dynamo: StoredItem | None, kind: str | None) -> None:
    assert classify(redis, dynamo) == kind


def test_repair_republishes_the_winner_with_its_version() -> None:
    drift = Drift("version_differs", ITEM, live(OLD), tomb(NEW))
    event = repair_event(drift, TABLES["opponents"], TABLES, prefer="dynamodb")
    assert event.op == "delete" and event.version == Version.from_token(NEW)


def test_a_tie_with_different_data_takes_the_preferred_store_a_hair_newer() -> None:
    drift = Drift("data_differs", ITEM, live(OLD, metadata="r"), live(OLD, metadata="d"))
    event = repair_event(drift, TABLES["opponents"], TABLES, prefer="redis")
    assert event.data == {"metadata": "r"}
    # The very next version after the tie: nothing lies between, so it beats nothing newer.
    assert event.version == Version(1, "svc", "a!")
    assert (
        Version.from_token(OLD) < event.version < Version(1, "svc", "a!!") < Version.from_token(NEW)
    )


def test_a_tie_at_a_snapshot_version_is_repaired_by_a_write_that_changes_items() -> None:
    filled = Version(0, "snapshot:redis-legacy", "d").token()
    drift = Drift("data_differs", ITEM, live(filled, metadata="r"), live(filled, metadata="d"))
    event = repair_event(drift, TABLES["opponents"], TABLES, prefer="redis")
    assert not event.version.fills_only and event.version > Version.from_token(filled)
    assert event.version.ts == 1  # still below any live write's real timestamp


def test_an_item_whose_data_redis_lost_is_repaired_a_hair_newer() -> None:
    """The `hash`/`template` layouts keep the version apart from the data: with the data key
    deleted behind our back, Redis holds the version, so only a newer write restores it."""
    drift = Drift("missing_in_redis", ITEM, tomb(OLD), live(OLD, metadata="d"))
    assert classify(drift.redis, drift.dynamodb) == "missing_in_redis"
    event = repair_event(drift, TABLES["opponents"], TABLES, prefer="redis")
    assert event.op == "upsert" and event.data == {"metadata": "d"}
    assert event.version == Version(1, "svc", "a!")


@pytest.mark.parametrize(
    ("value", "score", "why"),
    [
        (5, 5.0, None),
        (Decimal("0.5"), 0.5, None),
        (None, None, None),
        (5, None, "not in its partition's listing index ('timestamp' 5)"),
        (5, 6.0, "listed with score 6.0, but its 'timestamp' is 5"),
        (None, 6.0, "listed with score 6.0 but has no 'timestamp'"),
        ("corrupt", 6.0, None),  # not a number: the data differs, reported as such
    ],
)
def test_why_an_item_is_unlisted(value: object, score: float | None, why: str | None) -> None:
    assert why_unlisted("timestamp", value, score) == why
