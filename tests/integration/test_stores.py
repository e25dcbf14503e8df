"""Each store against its real server: LWW under any order, duplicates, deletes and listing."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis as sync_redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.dynamodb.source import DynamoDBSource
from connectors.dynamodb.store import DynamoDBStore
from connectors.redis.store import RedisKeys, RedisStore
from connectors.store import Store
from streams.model.events import ChangeEvent, ItemId, decode_event
from streams.model.tables import DEFAULT_TABLES
from streams.settings import Settings
from streams.stores import dynamodb_client, ensure_tables, open_dynamodb, open_store
from tests.conftest import Services
from tests.support import (
    REDIS_LAYOUTS,
    assert_store_matches,
    batches_of,
    delete,
    histories,
    upsert,
    with_redis_layout,
)

pytestmark = [pytest.mark.integration, pytest.mark.emulators]


@pytest.fixture(scope="module")
def shared(services: Services) -> Iterator[Settings]:
    """One table for the module; each example writes under owners of its own."""
    settings_ = services.settings()
    ensure_tables(settings_.dynamodb, settings_.tables)
    yield settings_


async def apply_history(
    store: Store, events: list[ChangeEvent], settings_: Settings, size: int
) -> None:
    for batch in batches_of(events, size, settings_.tables):
        outcome = await store.write(batch)
        assert not outcome.retry and not outcome.rejected


def run_property(
    settings_: Settings, store_name: str, events: list[ChangeEvent], size: int
) -> None:
    async def check() -> None:
        store = open_store(settings_, store_name)
        try:
            await apply_history(store, events, settings_, size)
            await assert_store_matches(store, events, settings_.tables)
        finally:
            await store.close()

    asyncio.run(check())


def unique_owners() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return (f"{tag}:o1", f"{tag}/o2")


@pytest.mark.parametrize("layout", list(REDIS_LAYOUTS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(1, 8))
def test_redis_ends_in_the_lww_fold(
    shared: Settings, layout: str, data: st.DataObject, size: int
) -> None:
    events = data.draw(histories(owners=unique_owners()))
    run_property(with_redis_layout(shared, REDIS_LAYOUTS[layout]), "redis", events, size)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(1, 8))
def test_dynamodb_ends_in_the_lww_fold(shared: Settings, data: st.DataObject, size: int) -> None:
    events = data.draw(histories(owners=unique_owners(), max_events=20))
    run_property(shared, "dynamodb", events, size)


@pytest.mark.parametrize("store_name", ["redis", "dynamodb"])
def test_listing_is_newest_first_and_hides_deleted_and_unindexed(
    shared: Settings, store_name: str
) -> None:
    owner = uuid.uuid4().hex
    events = [
        upsert(owner, "a", 1, metadata="x", timestamp=100),
        upsert(owner, "b", 2, metadata="y", timestamp=300),
        upsert(owner, "c", 3, metadata="z", timestamp=200),
        upsert(owner, "d", 4, metadata="no timestamp: stored, not listed"),
        delete(owner, "c", 9),
        upsert(owner, "a", 10, metadata="x2", timestamp=400.5),
    ]

    async def check() -> None:
        store = open_store(shared, store_name)
        try:
            await apply_history(store, events, shared, 1)
            listed = await store.list_partition("opponents", owner, 10)
            assert [i["opponent_id"] for i in listed] == ["a", "b"]
            assert listed[0] == {
                "owner_id": owner,
                "opponent_id": "a",
                "metadata": "x2",
                "timestamp": 400.5,
            }
            assert [
                i["opponent_id"] for i in await store.list_partition("opponents", owner, 1)
            ] == ["a"]
            assert await store.get("opponents", {"owner_id": owner, "opponent_id": "d"}) is not None
        finally:
            await store.close()

    asyncio.run(check())


@pytest.mark.parametrize("store_name", ["redis", "dynamodb"])
def test_a_late_older_upsert_cannot_resurrect_a_deleted_item(
    shared: Settings, store_name: str
) -> None:
    owner = uuid.uuid4().hex
    key = {"owner_id": owner, "opponent_id": "p"}

    async def check() -> None:
        store = open_store(shared, store_name)
        try:
            await apply_history(store, [upsert(owner, "p", 5), delete(owner, "p", 7)], shared, 1)
            await apply_history(store, [upsert(owner, "p", 6)], shared, 1)
            assert await store.get("opponents", key) is None
            await apply_history(store, [upsert(owner, "p", 8)], shared, 1)
            assert await store.get("opponents", key) is not None
        finally:
            await store.close()

    asyncio.run(check())


def test_redis_tombstones_expire_after_the_grace_period(services: Services) -> None:
    settings_ = services.settings(tombstone_grace_seconds=60)
    owner = uuid.uuid4().hex

    async def check() -> None:
        store = open_store(settings_, "redis")
        try:
            await apply_history(store, [upsert(owner, "p", 1), delete(owner, "p", 2)], settings_, 1)
        finally:
            await store.close()

    asyncio.run(check())
    client = sync_redis.Redis.from_url(settings_.redis_url)
    key = RedisKeys(settings_.redis_key_prefix).item(ItemId("opponents", owner, "p"))
    try:
        assert 0 < client.pttl(key) <= 60_000
        assert client.hget(key, "d") is None
    finally:
        client.close()


def raw_item(settings_: Settings, key: dict[str, str]) -> dict[str, Any]:
    """An item as DynamoDB holds it, bookkeeping included, read with boto3."""
    client = dynamodb_client(settings_.dynamodb)
    try:
        return dict(
            client.get_item(
                TableName=settings_.tables["opponents"].physical_name("opponents"),
                Key={name: {"S": value} for name, value in key.items()},
                ConsistentRead=True,
            )["Item"]
        )
    finally:
        client.close()


def test_dynamodb_tombstones_carry_a_ttl_and_bookkeeping_stays_hidden(shared: Settings) -> None:
    owner = uuid.uuid4().hex

    async def check() -> None:
        store = open_store(shared, "dynamodb")
        assert isinstance(store, DynamoDBStore)
        try:
            await apply_history(store, [upsert(owner, "p", 1), delete(owner, "p", 2)], shared, 1)
            raw = raw_item(shared, {"owner_id": owner, "opponent_id": "p"})
            assert set(raw) == {"owner_id", "opponent_id", "_v", "_deleted", "_expires_at"}
            await apply_history(store, [upsert(owner, "q", 3)], shared, 1)
            item = await store.get("opponents", {"owner_id": owner, "opponent_id": "q"})
            assert item is not None and not any(name.startswith("_") for name in item)
        finally:
            await store.close()

    asyncio.run(check())


def test_keys_that_look_alike_never_share_a_redis_key() -> None:
    keys = RedisKeys("cdc")
    tricky = ["a:b", "a", "b", "a%3Ab", "{x}", "x}", "", "é", "e\u0301", "a\nb", " ", "a:i:b"]
    names = {keys.item(ItemId("opponents", p, s)) for p in tricky for s in tricky}
    assert len(names) == len(tricky) ** 2
    assert all(name.count("{") == 1 and name.count("}") == 1 for name in names)


def test_redis_lww_script_ignores_the_servers_locale(shared: Settings) -> None:
    """Versions compare as bytes: 'B' < 'a' in byte order, though many locales sort a before B."""
    owner = uuid.uuid4().hex
    upper = upsert(owner, "p", 5, origin="B", event_id="x", metadata="B")
    lower = upsert(owner, "p", 5, origin="a", event_id="x", metadata="a")

    async def check() -> None:
        store = RedisStore.from_url(
            shared.redis_url, shared.tables, key_prefix=shared.redis_key_prefix
        )
        try:
            await apply_history(store, [lower, upper], shared, 1)
            got = await store.get("opponents", {"owner_id": owner, "opponent_id": "p"})
            assert got is not None and got["metadata"] == "a"
        finally:
            await store.close()

    asyncio.run(check())


def from_wire(owner: str, opponent: str, ts: int, data: str, origin: str = "svc") -> ChangeEvent:
    """An upsert as the worker decodes it, with `data` exactly as written in the message."""
    envelope = {"table": "opponents", "op": "upsert", "ts": ts, "origin": origin,
                "key": {"owner_id": owner, "opponent_id": opponent}, "event_id": f"e{ts}",
                "data": "@"}  # fmt: skip
    return decode_event(json.dumps(envelope).replace('"@"', data).encode(), DEFAULT_TABLES)


def write_and_read_both(shared: Settings, events: list[ChangeEvent], keys: list[dict[str, str]]
                        ) -> dict[str, list[Any]]:  # fmt: skip
    """Each store's `get` of every key after the events are written to it."""

    async def run(store_name: str) -> list[Any]:
        store = open_store(shared, store_name)
        try:
            await apply_history(store, events, shared, 1)
            return [await store.get("opponents", key) for key in keys]
        finally:
            await store.close()

    return {name: asyncio.run(run(name)) for name in ("redis", "dynamodb")}


BIG_FLOATS = [1e23, float(2**60), 1.5e18, 1e125]


def test_numbers_read_back_the_same_and_exact_from_both_stores(shared: Settings) -> None:
    owner = uuid.uuid4().hex
    long = "0.12345678901234567890123456789"
    events = [
        upsert(owner, "py", 1, metadata="floats", big=BIG_FLOATS),
        from_wire(owner, "wire", 2, f'{{"big": [1e23, 1.5e18, 1e125], "long": {long}, '
                                    '"one": 1.0000000000000000000001, "huge": 1E+100}'),
    ]  # fmt: skip
    keys = [{"owner_id": owner, "opponent_id": name} for name in ("py", "wire")]
    got = write_and_read_both(shared, events, keys)
    assert got["redis"] == got["dynamodb"]
    py, wire = got["redis"]
    # A float means its shortest repr, what its JSON text says: 1e23 is 10**23.
    assert py["big"] == [10**23, 1_152_921_504_606_847_000, 1_500_000_000_000_000_000, 10**125]
    assert wire["big"] == [10**23, 1_500_000_000_000_000_000, 10**125]
    assert wire["long"] == Decimal(long) and wire["one"] == Decimal("1.0000000000000000000001")
    assert wire["huge"] == 10**100


@pytest.mark.parametrize("store_name", ["redis", "dynamodb"])
def test_a_snapshot_version_only_fills_a_missing_item(shared: Settings, store_name: str) -> None:
    owner = uuid.uuid4().hex
    spec = shared.tables["opponents"]

    def fill(opponent: str, digest: str) -> ChangeEvent:
        return upsert(owner, opponent, 0, "snapshot:dynamodb", digest, metadata=digest)

    async def outcome(store: Store, event: ChangeEvent) -> tuple[int, int]:
        done = await store.write({event.item_id(spec): event})
        return done.applied, done.stale

    async def check() -> None:
        store = open_store(shared, store_name)
        try:
            assert await outcome(store, upsert(owner, "live", 5, metadata="live")) == (1, 0)
            assert await outcome(store, fill("live", "z")) == (0, 1)  # a live item stays
            assert await outcome(store, fill("new", "a")) == (1, 0)  # a missing one is filled
            # A greater snapshot version does not change an item a snapshot filled either.
            assert await outcome(store, fill("new", "z")) == (0, 1)
            got = [await store.get("opponents", {"owner_id": owner, "opponent_id": n})
                   for n in ("live", "new")]  # fmt: skip
            assert [item and item["metadata"] for item in got] == ["live", "a"]
        finally:
            await store.close()

    asyncio.run(check())


def test_a_snapshot_version_never_changes_a_dynamodb_item_without_a_version(
    shared: Settings,
) -> None:
    owner = uuid.uuid4().hex
    spec = shared.tables["opponents"]
    legacy = {"owner_id": {"S": owner}, "opponent_id": {"S": "p"}, "n": {"N": "1.5"}}
    fill = upsert(owner, "p", 0, origin="snapshot:dynamodb", event_id="d", n=2)

    async def check() -> None:
        store = open_store(shared, "dynamodb")
        assert isinstance(store, DynamoDBStore)
        try:
            client = dynamodb_client(shared.dynamodb)
            client.put_item(TableName=spec.physical_name("opponents"), Item=legacy)
            client.close()
            outcome = await store.write({fill.item_id(spec): fill})
            assert (outcome.applied, outcome.stale) == (0, 1)
            assert raw_item(shared, {"owner_id": owner, "opponent_id": "p"}) == legacy
        finally:
            await store.close()

    asyncio.run(check())


@pytest.mark.parametrize("limit", [1, 2, 3, 6])
def test_both_stores_list_in_one_order_ties_by_sort_key(shared: Settings, limit: int) -> None:
    owner = uuid.uuid4().hex
    scores = {"d": 7, "b": 7, "~x": 7, "a": 7, "c": 1, "%": 7}
    events = [upsert(owner, name, i + 1, timestamp=s) for i, (name, s) in enumerate(scores.items())]

    async def listed(store_name: str) -> list[str]:
        store = open_store(shared, store_name)
        try:
            await apply_history(store, events, shared, 3)
            return [i["opponent_id"] for i in await store.list_partition("opponents", owner, limit)]
        finally:
            await store.close()

    expected = ["%", "a", "b", "d", "~x", "c"][:limit]
    assert asyncio.run(listed("redis")) == expected
    assert asyncio.run(listed("dynamodb")) == expected


# Numbers as another writer may have stored them, and what each means. DynamoDB returns them
# canonicalised (1E+100 as 101 digits, 1.50 as 1.5, 007 as 7); moto echoes the text it got.
NUMBER_TEXTS = {
    "huge": ("1E+100", 10**100),
    "max": ("9.9999999999999999999999999999999999999E+125", int("9" * 38) * 10**88),
    "tiny": ("-1E-130", Decimal("-1E-130")),
    "cents": ("1.50", Decimal("1.5")),
    "padded": ("007", 7),
    "zero": ("-0.000", 0),
    "wide": ("12345678901234567890123456789012345678", 12345678901234567890123456789012345678),
}


def test_numbers_in_any_text_form_read_back_exactly(shared: Settings) -> None:
    """An item another writer stored, read by get, list, read_many (verify) and the snapshot
    source: every number is the one its text means."""
    owner, spec = uuid.uuid4().hex, shared.tables["opponents"]
    numbers = {name: {"N": text} for name, (text, _) in NUMBER_TEXTS.items()}
    key = {"owner_id": {"S": owner}, "opponent_id": {"S": "p"}}
    item: dict[str, Any] = {**key, "timestamp": {"N": "5"}, "nested": {"L": [{"M": numbers}]}}
    client = dynamodb_client(shared.dynamodb)
    client.put_item(TableName=spec.physical_name("opponents"), Item=item | numbers)
    client.close()
    meant = {name: value for name, (_, value) in NUMBER_TEXTS.items()}
    expected = {"owner_id": owner, "opponent_id": "p", "timestamp": 5, "nested": [meant], **meant}

    async def read() -> list[Any]:
        store = open_dynamodb(shared)
        source = DynamoDBSource(dynamodb_client(shared.dynamodb), "opponents", spec, segments=1)
        try:
            key = {"owner_id": owner, "opponent_id": "p"}
            stored = await store.read_many("opponents", [ItemId("opponents", owner, "p")])
            chunks = [chunk async for chunk in source.chunks(None)]
            copied = [i for c in chunks for i in c.items if i.key["owner_id"] == owner]
            return [await store.get("opponents", key),
                    (await store.list_partition("opponents", owner, 10))[0],
                    {**key, **(next(iter(stored.values())).data or {})},
                    {**key, **copied[0].data}]  # fmt: skip
        finally:
            await store.close()
            await source.close()
            source.client.close()

    for got in asyncio.run(read()):
        assert got == expected
