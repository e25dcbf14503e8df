"""Live-item expiry in every Redis layout and in DynamoDB: the data goes at
its instant, an older event arriving afterwards stays stale, verify counts no drift."""

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from connectors.dynamodb.items import EXPIRES_ATTR, LIVE_UNTIL_ATTR
from connectors.dynamodb.schema import table_definition
from streams.cli.main import main
from streams.devstack.process import wait_until
from streams.model.events import ItemId
from streams.model.expiry import ExpirySpec
from streams.model.tables import TableSpec
from streams.settings import Settings
from streams.stores import dynamodb_client, ensure_tables, open_redis, open_store
from tests.conftest import Services
from tests.integration.test_stores import run_property, unique_owners
from tests.support import REDIS_LAYOUTS, histories, upsert, with_redis_layout
from tests.support.worker import publish, write_direct

pytestmark = [pytest.mark.integration, pytest.mark.emulators]
STORES = ("redis", "dynamodb")


def expiring(settings: Settings, layout: str, **expiry: Any) -> Settings:
    settings = with_redis_layout(settings, REDIS_LAYOUTS[layout])
    spec = settings.tables["opponents"].model_copy(update={"expiry": ExpirySpec(**expiry)})
    return settings.model_copy(update={"tables": {"opponents": TableSpec.model_validate(spec)}})


async def read(settings: Settings, store_name: str, owner: str) -> dict[str, Any]:
    """Each opponent's item as `get` reads it, and the partition's listing."""
    store = open_store(settings, store_name)
    try:
        got = {
            p: await store.get("opponents", {"owner_id": owner, "opponent_id": p})
            for p in ("soon", "later", "never", "past")
        }
        listed = [i["opponent_id"] for i in await store.list_partition("opponents", owner, 10)]
        return {"get": {p: item is not None for p, item in got.items()}, "list": listed}
    finally:
        await store.close()


async def listing(settings: Settings, store_name: str, owner: str, limit: int) -> list[str]:
    store = open_store(settings, store_name)
    try:
        return [i["opponent_id"] for i in await store.list_partition("opponents", owner, limit)]
    finally:
        await store.close()


async def index_members(settings: Settings, owner: str) -> set[bytes]:
    """The partition's sorted set as a reader sees it."""
    store = open_redis(settings)
    try:
        layout = store.layouts.get("opponents")
        index = layout.index(owner) if layout else store.keys.index("opponents", owner)
        members: list[bytes] = await store.client.zrange(index or "", 0, -1)  # type: ignore[assignment]
        return set(members)
    finally:
        await store.close()


def now_ts() -> int:
    """A version time of now (microseconds), as a publisher stamps it."""
    return time.time_ns() // 1000


def seen(settings: Settings, owner: str) -> dict[str, Any]:
    return {name: asyncio.run(read(settings, name, owner)) for name in STORES}


@pytest.mark.parametrize("layout", ["cdc", "hash", "template-json"])
def test_items_expire_by_their_attribute_and_older_events_stay_stale(
    env_settings: Settings, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    settings = expiring(env_settings, layout, attribute="expires_at")
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    owner, now = uuid.uuid4().hex, time.time()
    events = [
        upsert(owner, "soon", 5, metadata="a", timestamp=4, expires_at=now + 1.5),
        upsert(owner, "later", 5, metadata="b", timestamp=3, expires_at=now + 3600),
        upsert(owner, "never", 5, metadata="c", timestamp=2),
        upsert(owner, "past", 5, metadata="d", timestamp=1, expires_at=now - 10),
    ]
    for name in STORES:
        asyncio.run(write_direct(settings, name, events))
    alive = {"soon": True, "later": True, "never": True, "past": False}
    both = {"get": alive, "list": ["soon", "later", "never"]}
    assert seen(settings, owner) == {"redis": both, "dynamodb": both}

    gone = {"get": alive | {"soon": False}, "list": ["later", "never"]}
    expect = {"redis": gone, "dynamodb": gone}
    assert wait_until(lambda: seen(settings, owner) == expect, timeout=10), seen(settings, owner)
    assert main(["verify"]) == 0  # expired items are not drift
    for name in STORES:  # the expired member still tops the index: a listing reads past it
        assert asyncio.run(listing(settings, name, owner, 2)) == ["later", "never"], name
    touch = upsert(owner, "never", 6, timestamp=2)
    for name in STORES:  # a write to the partition removes the expired member
        asyncio.run(write_direct(settings, name, [touch]))
    assert asyncio.run(index_members(settings, owner)) == {b"later", b"never"}  # trimmed

    late = upsert(owner, "soon", 4, metadata="older", timestamp=9, expires_at=now + 3600)
    for name in STORES:  # older than the expired version, which both stores still know
        asyncio.run(write_direct(settings, name, [late]))
    assert seen(settings, owner) == expect
    newer = upsert(owner, "soon", 6, metadata="newer", timestamp=9)
    for name in STORES:
        asyncio.run(write_direct(settings, name, [newer]))
    assert seen(settings, owner) == {"redis": both, "dynamodb": both}
    assert main(["verify"]) == 0


def test_what_a_reader_sees_expires_in_redis_and_dynamodb_holds_the_ttl_attribute(
    env_settings: Settings,
) -> None:
    """The legacy app's layout with a fixed lifetime: the data key goes, and its member in the
    sorted set at the partition's next write (the sorted set, which the application shares,
    never gets a TTL); the version stays for the tombstone lifetime."""
    settings = expiring(env_settings, "template", lifetime_seconds=1)
    owner = f"{uuid.uuid4().hex[:6]},a"
    events = [upsert(owner, "2,b", now_ts(), metadata="hi", timestamp=100)]
    for name in STORES:
        asyncio.run(write_direct(settings, name, events))
    client: Any = redis.Redis.from_url(settings.redis_url)
    book = f"{settings.redis_key_prefix}:v:opponent:{owner}:2,b"
    try:
        assert client.get(f"opponent:{owner}:2,b") == b"hi"
        # A second from its version time, rounded up to whole seconds (DynamoDB's TTL unit).
        assert 0 < client.pttl(f"opponent:{owner}:2,b") <= 2000
        assert client.pttl(f"opponents:{owner}") == -1  # shared: the replicator's TTL never
        assert wait_until(lambda: not client.exists(f"opponent:{owner}:2,b"), timeout=5)
        later = upsert(owner, "3,c", now_ts(), metadata="yo", timestamp=50)
        asyncio.run(write_direct(settings, "redis", [later]))
        assert client.zrange(f"opponents:{owner}", 0, -1) == [b"3,c"]  # the expired one left
        assert client.hget(book, "v") == events[0].version.token().encode()
        tombstone_ms = settings.tombstone_grace_seconds * 1000
        assert tombstone_ms - 5000 < client.pttl(book) <= tombstone_ms
    finally:
        client.close()
    dynamo = dynamodb_client(settings.dynamodb)
    try:
        name = settings.tables["opponents"].physical_name("opponents")
        key = {"owner_id": {"S": owner}, "opponent_id": {"S": "2,b"}}
        item = dynamo.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]
        at = int(item[LIVE_UNTIL_ATTR]["N"])
        assert abs(at - (time.time() + 1)) < 5
        assert int(item[EXPIRES_ATTR]["N"]) == at + settings.tombstone_grace_seconds  # as Redis
        ttl = dynamo.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == EXPIRES_ATTR
    finally:
        dynamo.close()


def test_init_names_expired_items_when_an_existing_table_lacks_ttl(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = expiring(settings, "cdc", lifetime_seconds=60)
    name = settings.tables["opponents"].physical_name("opponents")
    client = dynamodb_client(settings.dynamodb)
    try:  # someone's table, holding an item of theirs (an empty one would be finished)
        client.create_table(**table_definition(name, settings.tables["opponents"]))
        item = {"owner_id": {"S": "user:7"}, "opponent_id": {"S": "user:8"}}
        client.put_item(TableName=name, Item=item)
    finally:
        client.close()
    for variable, value in settings.as_env().items():
        monkeypatch.setenv(variable, value)
    assert main(["init"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: DynamoDB table {name}: TTL is not enabled on {EXPIRES_ATTR}, so tombstones "
        "and expired items would never expire; enable it:"
    ), err


@pytest.fixture(scope="module")
def lasting(services: Services) -> Settings:
    """One table for the module whose items live a century from their version time (the
    histories' versions are in 1970); each example has owners of its own."""
    settings = expiring(services.settings(), "cdc", lifetime_seconds=100 * 365 * 24 * 3600)
    ensure_tables(settings.dynamodb, settings.tables)
    return settings


RUNS = [*(("redis", layout) for layout in REDIS_LAYOUTS), ("dynamodb", "cdc")]


@pytest.mark.parametrize(("store_name", "layout"), RUNS)
@examples(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(1, 8))
def test_an_expiry_not_yet_reached_keeps_the_lww_fold(
    lasting: Settings, store_name: str, layout: str, data: st.DataObject, size: int
) -> None:
    """The expiry bookkeeping (and the sorted set of expiries) changes nothing of LWW."""
    events = data.draw(histories(owners=unique_owners(), max_events=20))
    run_property(with_redis_layout(lasting, REDIS_LAYOUTS[layout]), store_name, events, size)


async def redis_versions(settings: Settings, owner: str) -> dict[str, str]:
    """The versions Redis holds of the owner's item "soon" (a tombstone's, an expired one's)."""
    store = open_store(settings, "redis")
    try:
        held = await store.read_many("opponents", [ItemId("opponents", owner, "soon")])
        return {item.sort: stored.version for item, stored in held.items()}
    finally:
        await store.close()


def ttl_sweep(settings: Settings) -> int:
    """What DynamoDB's TTL does, at once: delete the items whose TTL attribute has passed."""
    client = dynamodb_client(settings.dynamodb)
    name = settings.tables["opponents"].physical_name("opponents")
    try:
        items = client.scan(TableName=name, ConsistentRead=True)["Items"]
        gone = [
            i for i in items if EXPIRES_ATTR in i and float(i[EXPIRES_ATTR]["N"]) <= time.time()
        ]
        for item in gone:
            key = {k: item[k] for k in ("owner_id", "opponent_id")}
            client.delete_item(TableName=name, Key=key)
        return len(gone)
    finally:
        client.close()


@pytest.mark.parametrize("grace", [3600, 1])
def test_both_stores_keep_an_expired_version_for_the_grace_period(
    env_settings: Settings, monkeypatch: pytest.MonkeyPatch, grace: int
) -> None:
    """DynamoDB's TTL deletes an expired item only after the grace period, as Redis drops its
    version (counted from the write at the earliest, as a delete's): an older event is stale
    in both until then, and may come back in both after."""
    settings = expiring(env_settings, "hash", attribute="expires_at")
    settings = settings.model_copy(update={"tombstone_grace_seconds": grace})
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    monkeypatch.setenv("CDC_TOMBSTONE_GRACE_SECONDS", str(grace))
    owner, now = uuid.uuid4().hex, time.time()
    expired = upsert(owner, "soon", 5, metadata="new", timestamp=1, expires_at=now - 2)
    older = upsert(owner, "soon", 4, metadata="OLD DATA BACK", timestamp=1)
    for name in STORES:
        asyncio.run(write_direct(settings, name, [expired]))
    if grace == 1:  # both stores may forget the version now
        assert wait_until(lambda: not asyncio.run(redis_versions(settings, owner)), timeout=5)
    ttl_sweep(settings)  # deletes it only once the grace period has passed
    for name in STORES:
        asyncio.run(write_direct(settings, name, [older]))
    back = grace == 1  # both stores forgot the version: the older event is as good as new
    got = {name: asyncio.run(read(settings, name, owner))["get"]["soon"] for name in STORES}
    assert got == {"redis": back, "dynamodb": back}
    assert main(["verify"]) == 0


def test_a_rebuild_does_not_restart_a_lifetime(
    env_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lifetime counts from the event's version time, so replaying it (rebuild) into a store
    that lost it writes it expired again, as the other store holds it."""
    settings = expiring(env_settings, "hash", lifetime_seconds=1)
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    owner = uuid.uuid4().hex
    event = upsert(owner, "soon", now_ts(), metadata="cached", timestamp=1)
    asyncio.run(publish(settings, [event]))
    for name in STORES:
        asyncio.run(write_direct(settings, name, [event]))
    assert all(asyncio.run(read(settings, name, owner))["get"]["soon"] for name in STORES)

    def gone() -> bool:
        return not any(asyncio.run(read(settings, n, owner))["get"]["soon"] for n in STORES)

    assert wait_until(gone, timeout=10)
    client: Any = redis.Redis.from_url(settings.redis_url)
    try:  # Redis loses everything of the item, bookkeeping included
        lost = list(client.scan_iter(f"*{owner}*"))
        assert lost
        client.delete(*lost)
    finally:
        client.close()
    assert main(["rebuild", "--store", "redis"]) == 0
    capsys.readouterr()
    assert gone()
    assert main(["verify"]) == 0


def test_a_snapshot_refuses_a_lifetime_table(
    env_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """A snapshot's items carry no change time: with a lifetime they would all arrive expired
    while the run reported success, so it refuses before publishing anything."""
    settings = expiring(env_settings, "hash", lifetime_seconds=60)
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    items = tmp_path / "items.jsonl"
    items.write_text('{"owner_id": "o", "opponent_id": "p", "metadata": "m", "timestamp": 1}\n')
    code = main(["snapshot", "--source", "jsonl", "--file", str(items)])
    [line] = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "they would arrive expired" in line
