"""Keys the replicator shares with the application (the `template` and `hash` layouts): ids as
the application writes them, one owner per key, keys of the wrong type, shared listings and
expiry, listings past members without an item, and what the application may leave in them."""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis

from connectors.redis.layouts import ItemLayout
from connectors.store import KEY_COLLISION, StoredItem, WriteOutcome
from streams.cli.main import main
from streams.devstack.process import wait_until
from streams.kafka.records import RawRecord
from streams.model.events import ChangeEvent, ItemId
from streams.model.redis_layout_spec import RedisLayoutSpec
from streams.model.tables import TableSpec
from streams.retry import Backoff
from streams.settings import Settings
from streams.stores import open_store
from tests.support import (
    REDIS_LAYOUTS,
    EveryStore,
    MemoryDeadLetters,
    delete,
    upsert,
    with_redis_layout,
)
from tests.support.worker import write_direct

pytestmark = pytest.mark.integration


def legacy_layout(settings: Settings, **declared: Any) -> tuple[Settings, str]:
    """The legacy app's template layout under keys of the test's own, and their tag."""
    tag = uuid.uuid4().hex[:8]
    spec = REDIS_LAYOUTS["template"].model_copy(
        update={"index_key": f"{tag}:opponents:{{owner_id}}",
                "key": f"{tag}:opponent:{{owner_id}}:{{opponent_id}}", **declared}
    )  # fmt: skip
    return with_redis_layout(settings, spec), tag


@pytest.fixture
def app(settings: Settings) -> Iterator[Any]:
    """The application's own client, reading and writing its keys raw."""
    client = redis.Redis.from_url(settings.redis_url)
    yield client
    client.close()


def the_application_reads(client: Any, tag: str, owner: str) -> list[tuple[str, str | None]]:
    """What the legacy app shows: ZREVRANGE, then MGET of each member's key."""
    members = [m.decode() for m in client.zrevrange(f"{tag}:opponents:{owner}", 0, -1)]
    values = client.mget([f"{tag}:opponent:{owner}:{m}" for m in members]) if members else []
    return [(m, v.decode() if v else None) for m, v in zip(members, values, strict=True)]


async def write(settings: Settings, events: Sequence[ChangeEvent]) -> WriteOutcome:
    store = open_store(settings, "redis")
    try:
        batch = {event.item_id(settings.tables["opponents"]): event for event in events}
        return await store.write(batch)
    finally:
        await store.close()


async def read(settings: Settings, owner: str, opponent: str) -> StoredItem | None:
    store = open_store(settings, "redis")
    try:
        found = await store.read_many("opponents", [ItemId("opponents", owner, opponent)])
        return found.get(ItemId("opponents", owner, opponent))
    finally:
        await store.close()


ODD_IDS = [("user:7", "user:8"), ("50%", "{x}"), ("a b", "c:d%3A"), ("%25", "}{")]


def test_ids_reach_the_keys_the_application_reads_as_they_are(
    env_settings: Settings, app: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    settings, tag = legacy_layout(env_settings)
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    events = [upsert(o, p, 5, metadata=f"{o}|{p}", timestamp=9) for o, p in ODD_IDS]
    for store in ("redis", "dynamodb"):
        asyncio.run(write_direct(settings, store, events))
    for owner, opponent in ODD_IDS:
        assert the_application_reads(app, tag, owner) == [(opponent, f"{owner}|{opponent}")]
    # The legacy source reads those keys back as the same items: nothing to republish, and no
    # phantom owner `50%25` born of the replicator's own keys.
    legacy = ["verify", "--source", "redis-legacy",
              "--zset-pattern", f"{tag}:opponents:{{owner_id}}",
              "--meta-pattern", f"{tag}:opponent:{{owner_id}}:{{opponent_id}}"]  # fmt: skip
    for store in ("dynamodb", "redis"):
        assert main([*legacy, "--store", store, "--repair"]) == 0, capsys.readouterr()
        out = capsys.readouterr().out
        assert out == f"opponents: agree; compared {len(ODD_IDS)}\n", out


def test_two_items_that_render_one_key_never_mix(
    env_settings: Settings, app: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """`a:b` + `c` and `a` + `b:c` render one key: the first keeps it, the second is a dead
    letter naming both, and no read, verify or repair moves one's data onto the other."""
    settings, tag = legacy_layout(env_settings)
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    first, second = ("a:b", "c"), ("a", "b:c")
    owner = upsert(*first, 5, metadata="first's", timestamp=1)
    rival = upsert(*second, 6, metadata="second's", timestamp=2)
    letters = asyncio.run(replicate(settings, [[owner], [rival]]))
    assert letters.reasons() == [KEY_COLLISION]
    message = dict(letters.sent[0][3])["cdc.error.message"].decode()
    assert f"{tag}:opponent:a:b:c" in message, message
    assert '["opponents", "a:b", "c"]' in message and '["opponents", "a", "b:c"]' in message
    assert app.get(f"{tag}:opponent:a:b:c") == b"first's"
    assert the_application_reads(app, tag, "a") == []  # never listed under `a`

    assert main(["get", "--store", "redis", "opponents", "owner_id=a", "opponent_id=b:c"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: redis: key ") and "holds item" in err and err.count("\n") == 1
    assert main(["list", "--store", "redis", "opponents", "a"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["verify", "--repair"]) == 1
    out = capsys.readouterr().out
    assert "republished 0, source_problems 1, unrepairable 1" in out, out
    assert "holds item" in out, out
    assert out.endswith("  1 item could not be republished\n"), out  # and no other drifted

    # Once the first is deleted, the key is free for the second.
    assert asyncio.run(write(settings, [delete(*first, 7), rival])).applied == 2
    assert app.get(f"{tag}:opponent:a:b:c") == b"second's"
    assert the_application_reads(app, tag, "a") == [("b:c", "second's")]


def test_a_deleted_owner_whose_key_another_item_took_is_no_drift(
    env_settings: Settings, app: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The first owner of a key is deleted and the item refused for it takes the key: DynamoDB
    keeps the first's tombstone for the grace period, Redis no longer holds the first at all
    (its key is the other's). Both say the first is gone: verify agrees."""
    settings, tag = legacy_layout(env_settings)
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    first, second = ("a:b", "c"), ("a", "b:c")
    rival = upsert(*second, 6, metadata="second's", timestamp=2)
    batches = [[upsert(*first, 5, metadata="first's", timestamp=1)], [rival], [delete(*first, 7)]]
    assert asyncio.run(replicate(settings, batches)).reasons() == [KEY_COLLISION]
    asyncio.run(replicate(settings, [[rival]]))  # what `verify --repair` republishes
    assert app.get(f"{tag}:opponent:a:b:c") == b"second's"
    assert main(["verify"]) == 0, capsys.readouterr().out
    assert "agree; compared 2, dynamodb 1, redis 1" in capsys.readouterr().out


async def replicate(settings: Settings, batches: list[list[ChangeEvent]]) -> MemoryDeadLetters:
    """The batches through the worker's replicator into both stores; its dead letters."""
    letters = MemoryDeadLetters()
    stores = [open_store(settings, name) for name in ("redis", "dynamodb")]
    replicator = EveryStore(settings.tables, stores, letters, Backoff())
    try:
        for n, batch in enumerate(batches):
            await replicator.process(
                [RawRecord(settings.topic, 0, n, b"k", e.to_json()) for e in batch]
            )
    finally:
        for store in stores:
            await store.close()
    return letters


@pytest.mark.parametrize("planted", ["listing", "item"])
def test_a_key_of_another_type_refuses_the_item_and_changes_nothing(
    settings: Settings, app: Any, planted: str
) -> None:
    """The application wrote a string where the listing is (or a sorted set where the item is):
    that item is refused before any change, and the other items of the call are written."""
    settings, tag = legacy_layout(settings)
    listing, key = f"{tag}:opponents:o", f"{tag}:opponent:o:p"
    book = f"{settings.redis_key_prefix}:v:{key}"
    before = upsert("o", "p", 4, metadata="before", timestamp=1)
    if planted == "listing":
        assert asyncio.run(write(settings, [before])).applied == 1
        app.delete(listing)
        app.set(listing, "the application's")
        wrong, held, wanted = listing, "string", "zset"
    else:
        app.zadd(key, {"x": 1})
        wrong, held, wanted = key, "zset", "string"
    kept = {k: app.dump(k) for k in (listing, key, book)}
    outcome = asyncio.run(
        write(settings, [upsert("o", "p", 5, metadata="m", timestamp=1),
                         upsert("other", "p", 5, metadata="m", timestamp=1)])
    )  # fmt: skip
    assert outcome.applied == 1 and len(outcome.rejected) == 1, outcome
    assert f"key {wrong!r} holds a {held}, not a {wanted}" in outcome.rejected[0][1]
    assert {k: app.dump(k) for k in kept} == kept  # not one of the item's keys changed
    assert app.get(f"{tag}:opponent:other:p") == b"m"


def expiring(settings: Settings, layout: str, **expiry: Any) -> Settings:
    declared = REDIS_LAYOUTS[layout].model_dump()
    if layout == "template-json":  # under keys of the test's own
        tag = uuid.uuid4().hex[:8]
        declared |= {"key": f"{tag}:o:{{{{owner_id}}}}:{{opponent_id}}",
                     "index_key": f"{tag}:os:{{{{owner_id}}}}"}  # fmt: skip
    table = {**settings.tables["opponents"].model_dump(), "redis": declared, "expiry": expiry}
    return settings.model_copy(update={"tables": {"opponents": TableSpec(**table)}})


def test_the_replicator_never_expires_a_listing_the_application_shares(
    settings: Settings, app: Any
) -> None:
    """Its only member expires; a member the application added later stays, with the set."""
    settings = expiring(settings, "template-json", attribute="expires_at")
    owner = uuid.uuid4().hex
    soon = upsert(owner, "soon", 5, metadata="m", timestamp=1, expires_at=int(time.time()) + 1)
    assert asyncio.run(write(settings, [soon])).applied == 1
    layout = ItemLayout("opponents", settings.tables["opponents"], settings.redis_key_prefix)
    listing = layout.index(owner) or ""
    app.zadd(listing, {"the application's": 10})

    def expired() -> bool:
        held = asyncio.run(read(settings, owner, "soon"))
        return held is not None and held.expired

    assert wait_until(expired, timeout=5)
    assert wait_until(lambda: not app.exists(layout.data_key(soon.item_id(layout.spec))), 5)
    assert app.zscore(listing, "the application's") == 10
    assert app.pttl(listing) == -1


@pytest.mark.parametrize("layout", ["cdc", "hash", "template-json"])
@pytest.mark.parametrize("order", ["newer first", "older first", "one batch"])
def test_an_expiry_long_past_keeps_its_version_in_both_stores(
    env_settings: Settings, layout: str, order: str
) -> None:
    """Expired an hour before it is written, with a grace period of a minute: both stores keep
    its version, so an older event is stale in both, whatever the arrival order and batches."""
    settings = expiring(env_settings, layout, attribute="expires_at")
    settings = settings.model_copy(update={"tombstone_grace_seconds": 60})
    owner = uuid.uuid4().hex
    expired = upsert(owner, "p", 5, metadata="new", timestamp=1, expires_at=int(time.time()) - 3600)
    older = upsert(owner, "p", 4, metadata="OLD DATA BACK", timestamp=1)
    batches = {"newer first": [[expired], [older]], "older first": [[older], [expired]],
               "one batch": [[older, expired]]}[order]  # fmt: skip
    held = {}
    for name in ("redis", "dynamodb"):
        for batch in batches:
            asyncio.run(write_direct(settings, name, batch))
        held[name] = asyncio.run(read_store(settings, name, owner))
    token = expired.version.token()
    assert held == {"redis": (token, False), "dynamodb": (token, False)}, held


async def read_store(settings: Settings, name: str, owner: str) -> tuple[str, bool] | None:
    store = open_store(settings, name)
    try:
        found = await store.read_many("opponents", [ItemId("opponents", owner, "p")])
        stored = found.get(ItemId("opponents", owner, "p"))
        return None if stored is None else (stored.version, stored.live)
    finally:
        await store.close()


@pytest.mark.parametrize("layout", ["template", "hash"])
def test_a_listing_reads_past_members_without_an_item(
    env_settings: Settings, app: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], layout: str,
) -> None:  # fmt: skip
    """The application's top members have no key behind them: list still fills its limit."""
    settings, _ = legacy_layout(env_settings)
    if layout == "hash":
        settings = with_redis_layout(env_settings, REDIS_LAYOUTS["hash"])
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    owner = uuid.uuid4().hex
    asyncio.run(write(settings, [upsert(owner, f"p{i}", 5, metadata="m", timestamp=i)
                                 for i in range(3)]))  # fmt: skip
    layout_ = ItemLayout("opponents", settings.tables["opponents"], settings.redis_key_prefix)
    app.zadd(layout_.index(owner) or "", {f"ghost{i}": 100 + i for i in range(25)})
    assert main(["list", "--store", "redis", "opponents", owner, "--limit", "2"]) == 0
    assert sorts(capsys.readouterr().out) == ["p2", "p1"]


def sorts(lines: str) -> list[str]:
    return [str(json.loads(line)["opponent_id"]) for line in lines.splitlines() if line]


def test_what_the_application_wrote_unreadable_is_named_and_the_rest_checked(
    env_settings: Settings, app: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Bytes that are not UTF-8, a `+inf` score (a pinned conversation): get names the key in
    one line, list shows the others and names it, verify reports it and checks the rest."""
    settings, tag = legacy_layout(env_settings)
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    events = [upsert("o", p, 5, metadata="m", timestamp=i) for i, p in enumerate("abcd")]
    for store in ("redis", "dynamodb"):
        asyncio.run(write_direct(settings, store, events))
    app.set(f"{tag}:opponent:o:a", b"\xff\xfe not text")
    app.zadd(f"{tag}:opponents:o", {"b": float("inf")})
    app.zadd(f"{tag}:opponents:o", {b"\xff": 50})
    assert main(["get", "--store", "redis", "opponents", "owner_id=o", "opponent_id=a"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: redis: key '{tag}:opponent:o:a': the value is not UTF-8 text: "
                   "b'\\xff\\xfe not text'\n")  # fmt: skip
    assert main(["list", "--store", "redis", "opponents", "o"]) == 1
    captured = capsys.readouterr()
    assert sorts(captured.out) == ["d", "c"]
    assert f"unreadable: redis: key '{tag}:opponent:o:a'" in captured.err
    assert "its listing score is inf" in captured.err and "is not UTF-8 text" in captured.err
    assert main(["verify", "--json"]) == 1
    [report] = json.loads(capsys.readouterr().out)
    assert report["counts"]["source_problems"] == 2 and report["counts"]["compared"] == 4, report


def test_a_key_of_another_type_is_named_by_reads_and_the_rest_checked(
    env_settings: Settings, app: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The application replaced a listing with a string, and an item's key with a hash, after
    the replicator wrote them: get and list name the key in one line, verify counts both items
    as problems and checks the others."""
    settings, tag = legacy_layout(env_settings)
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    events = [upsert(o, p, 5, metadata="m", timestamp=1) for o, p in [("o", "a"), ("q", "b"),
                                                                     ("r", "c")]]  # fmt: skip
    for store in ("redis", "dynamodb"):
        asyncio.run(write_direct(settings, store, events))
    app.delete(f"{tag}:opponents:o")
    app.set(f"{tag}:opponents:o", "a string")
    app.delete(f"{tag}:opponent:q:b")
    app.hset(f"{tag}:opponent:q:b", "f", "v")
    assert main(["get", "--store", "redis", "opponents", "owner_id=o", "opponent_id=a"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: redis: key '{tag}:opponents:o' holds a string") and \
        err.count("\n") == 1, err  # fmt: skip
    assert main(["list", "--store", "redis", "opponents", "o"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "", captured.out
    assert (
        captured.err == f"unreadable: redis: key '{tag}:opponents:o' holds a string, not a zset\n"
    )
    assert main(["get", "--store", "redis", "opponents", "owner_id=q", "opponent_id=b"]) == 2
    assert f"key '{tag}:opponent:q:b' holds a hash" in capsys.readouterr().err
    assert main(["verify", "--json"]) == 1
    [report] = json.loads(capsys.readouterr().out)
    assert report["counts"]["source_problems"] == 2 and report["counts"]["compared"] == 3, report


def test_a_hash_field_that_is_not_text_is_named(
    env_settings: Settings, app: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    settings = with_redis_layout(env_settings, RedisLayoutSpec(layout="hash"))
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    owner = uuid.uuid4().hex
    events = [upsert(owner, p, 5, metadata="m", timestamp=1, tags=["x"]) for p in "ab"]
    for store in ("redis", "dynamodb"):
        asyncio.run(write_direct(settings, store, events))
    app.hset(f"opponents:{{{owner}}}:a", "tags", "not [json")
    app.hset(f"opponents:{{{owner}}}:b", b"\xff", "x")
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert "source_problems 2" in out and "not JSON" in out and "not UTF-8" in out, out
    readable = [upsert(owner, "c", 5, metadata="m", timestamp=1)]
    for store in ("redis", "dynamodb"):
        asyncio.run(write_direct(settings, store, readable))
    app.delete(f"opponents:idx:{{{owner}}}")  # the listing, replaced by a string
    app.set(f"opponents:idx:{{{owner}}}", "a string")
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert f"key 'opponents:idx:{{{owner}}}' holds a string, not a zset" in out, out
