"""Partial upserts (attributes a Debezium row left unchanged) against the real stores: every
Redis layout and DynamoDB (moto and dynalite) hold what the writes give in version order, in any
arrival order and batching, numbers exact; what no write carried is a hole, reported."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from typing import Any, Literal

import pytest
import redis as sync_redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.redis.merge import RedisMerges
from connectors.redis.store import RedisStore
from connectors.store import Store
from streams.model.events import SNAPSHOT_TS, ChangeEvent, ItemId
from streams.model.redis_layout_spec import RedisLayoutSpec
from streams.model.tables import TableSpec
from streams.pipeline.lww import coalesce
from streams.settings import Settings
from streams.stores import dynamodb_client, ensure_tables, open_store
from tests.conftest import Services
from tests.unit.test_lww import in_version_order

pytestmark = [pytest.mark.integration, pytest.mark.emulators]
ATTRIBUTES = ("body", "tags", "n")
# Each store and Redis layout, with the attributes its layout holds.
TARGETS = {
    "redis-cdc": ("redis", RedisLayoutSpec(), ATTRIBUTES),
    "redis-hash": ("redis", RedisLayoutSpec(layout="hash"), ATTRIBUTES),
    "redis-template-json": ("redis", RedisLayoutSpec(layout="template"), ATTRIBUTES),
    "redis-template-value": (
        "redis",
        RedisLayoutSpec(layout="template", key="doc:{id}", value_attribute="body"),
        ("body",),
    ),
    "dynamodb": ("dynamodb", RedisLayoutSpec(), ATTRIBUTES),
}


def declared(services: Services, layout: RedisLayoutSpec) -> Settings:
    base = services.settings()
    docs = TableSpec(partition_key="id", format="debezium", source="pg.public.docs",
                     dynamodb_table=f"docs-{uuid.uuid4().hex[:10]}", redis=layout)  # fmt: skip
    settings_ = base.model_copy(update={"tables": {"docs": docs}})
    ensure_tables(settings_.dynamodb, settings_.tables)
    return settings_


@pytest.fixture(scope="module", params=list(TARGETS))
def target(request: pytest.FixtureRequest, services: Services) -> Iterator[tuple[str, Settings]]:
    store_name, layout, _ = TARGETS[request.param]
    yield store_name, declared(services, layout)


def write(key: str, i: int, ts: int, data: dict[str, Any], unchanged: list[str] | None, *,
          op: Literal["upsert", "delete"] = "upsert") -> ChangeEvent:  # fmt: skip
    return ChangeEvent(table="docs", op=op, key={"id": key}, ts=ts, origin="debezium:pg",
                       event_id=f"{ts:020d}-{i}", data=None if op == "delete" else data,
                       unchanged=unchanged)  # fmt: skip


@st.composite
def histories(draw: st.DrawFn, key: str, attributes: tuple[str, ...]) -> list[ChangeEvent]:
    writes = []
    for i, ts in enumerate(draw(st.lists(st.integers(1, 9), min_size=1, max_size=7))):
        kind = draw(st.sampled_from(["whole", "partial", "partial", "delete"]))
        unchanged = [a for a in attributes if kind == "partial" and draw(st.booleans())]
        values = {"body": f"b{i} {{x}} 50%", "tags": [i, "a b"], "n": Decimal(f"{i}.50")}
        data = {a: values[a] for a in attributes if a not in unchanged}
        if kind == "delete":
            writes.append(write(key, i, ts, {}, None, op="delete"))
        else:
            writes.append(write(key, i, ts, data, unchanged or None))
    return writes


async def applied(store: Store, batches: list[list[ChangeEvent]], tables: Any) -> list[Any]:
    outcomes = []
    for batch in batches:
        outcome = await store.write(coalesce(batch, tables))
        assert not outcome.retry and not outcome.rejected, outcome
        outcomes.append(outcome)
    return outcomes


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_partial_upserts_end_as_in_version_order_in_any_order(
    target: tuple[str, Settings], data: st.DataObject
) -> None:
    """Deliveries in any order (some twice), cut into batches, each coalesced: the store holds
    the item as the writes give it one by one in version order."""
    store_name, settings_ = target
    attributes = TARGETS[_name(target)][2]
    key = f"d:{uuid.uuid4().hex[:8]}"
    writes = data.draw(histories(key, attributes))
    deliveries = data.draw(st.permutations(writes + data.draw(st.lists(st.sampled_from(writes)))))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(deliveries)), max_size=3)))
    bounds = [0, *cuts, len(deliveries)]
    batches = [deliveries[a:b] for a, b in pairwise(bounds) if b > a]

    async def check() -> None:
        store = open_store(settings_, store_name)
        try:
            await applied(store, batches, settings_.tables)
            expected = in_version_order(writes)
            got = await store.get("docs", {"id": key})
            assert got == _visible(key, expected, settings_.tables["docs"].redis), writes
        finally:
            await store.close()

    asyncio.run(check())


def test_kept_values_stay_exact_and_a_hole_is_reported(target: tuple[str, Settings]) -> None:
    store_name, settings_ = target
    attributes = TARGETS[_name(target)][2]
    tag = uuid.uuid4().hex[:8]
    key, other = f"d:{{7}} {tag}", f"d:8 {tag}"
    body = "x" * 20_000  # a value PostgreSQL TOASTs
    first: dict[str, Any] = {"body": body, "tags": [Decimal("1.50"), 10**30], "n": Decimal("0.10")}
    keep: list[str] = [a for a in ("body", "tags") if a in attributes]
    partial: dict[str, Any] = {"n": Decimal("2.50")} if "n" in attributes else {}

    async def check() -> None:
        store = open_store(settings_, store_name)
        try:
            await applied(store, [[write(key, 0, 1, {a: first[a] for a in attributes}, None)]],
                          settings_.tables)  # fmt: skip
            [outcome] = await applied(
                store,
                [[write(key, 1, 2, partial, keep), write(other, 2, 3, partial, keep)]],
                settings_.tables,
            )
            assert outcome.applied == 2 and list(outcome.holes) == [ItemId("docs", other, "")]
            assert outcome.holes[ItemId("docs", other, "")] == keep
            got = await store.get("docs", {"id": key})
            assert got == {"id": key, **{a: first[a] for a in keep}, **partial}
            layout = settings_.tables["docs"].redis if store_name == "redis" else RedisLayoutSpec()
            assert await store.get("docs", {"id": other}) == _visible(other, partial, layout)
        finally:
            await store.close()

    asyncio.run(check())
    if store_name == "redis" and settings_.tables["docs"].redis.layout == "cdc":
        raw = sync_redis.Redis.from_url(settings_.redis_url)
        try:
            quoted = key.replace(":", "%3A").replace("{", "%7B").replace("}", "%7D")
            held = raw.hget(
                f"{settings_.redis_key_prefix}:{{docs:{quoted.replace(' ', '%20')}}}:i:", "d"
            )
            assert held is not None and b'"tags":[1.50,1000000000000000000000000000000]' in held
        finally:
            raw.close()
    if store_name == "dynamodb":
        client = dynamodb_client(settings_.dynamodb)
        try:
            name = settings_.tables["docs"].physical_name("docs")
            item = client.get_item(TableName=name, Key={"id": {"S": key}}, ConsistentRead=True)
            older = json.loads(item["Item"]["_o"]["S"])
            assert set(older) == {"body", "tags"} and older["body"].endswith("-0")
        finally:
            client.close()


def test_an_older_write_arriving_late_fills_what_the_item_lacks(
    target: tuple[str, Settings],
) -> None:
    """A partial upsert over an item the store does not hold leaves a hole; the older whole
    write arriving after it (a dead letter replayed, a racing part) fills it, and an even older
    one changes nothing. A snapshot (lowest version) fills a hole nothing else carried."""
    store_name, settings_ = target
    attributes = TARGETS[_name(target)][2]
    tag = uuid.uuid4().hex[:8]
    key, second = f"d:late {tag}", f"d:snap {tag}"
    rest = {a: f"{a}2" for a in attributes if a != "body"}

    async def check() -> None:
        store = open_store(settings_, store_name)
        try:
            partial = write(key, 2, 20, rest, ["body"])
            [outcome] = await applied(store, [[partial]], settings_.tables)
            assert list(outcome.holes.values()) == [["body"]]
            [outcome] = await applied(store, [[write(key, 1, 10, {"body": "b1", **rest}, None)]],
                                      settings_.tables)  # fmt: skip
            assert outcome.applied == 1
            assert await store.get("docs", {"id": key}) == {"id": key, "body": "b1", **rest}
            [outcome] = await applied(store, [[write(key, 0, 5, {"body": "b0", **rest}, None)]],
                                      settings_.tables)  # fmt: skip
            assert outcome.stale == 1
            assert await store.get("docs", {"id": key}) == {"id": key, "body": "b1", **rest}
            await applied(store, [[write(second, 3, 20, rest, ["body"])]], settings_.tables)
            snapshot = ChangeEvent(table="docs", op="upsert", key={"id": second}, ts=SNAPSHOT_TS,
                                   origin="snapshot:pg", event_id="s",
                                   data={"body": "read", **{a: "old" for a in rest}})  # fmt: skip
            [outcome] = await applied(store, [[snapshot]], settings_.tables)
            assert outcome.applied == 1
            assert await store.get("docs", {"id": second}) == {"id": second, "body": "read", **rest}
        finally:
            await store.close()

    asyncio.run(check())


def test_older_origins_speak_for_their_version_only(target: tuple[str, Settings]) -> None:
    """A whole write newer than an item holding older origins replaces them (the cdc layout
    leaves its fields behind, unread); an older write is then stale, and a later partial
    upsert keeps the whole write's value."""
    store_name, settings_ = target
    attributes = TARGETS[_name(target)][2]
    key = f"d:again {uuid.uuid4().hex[:8]}"
    rest = {a: f"{a}3" for a in attributes if a != "body"}

    async def check() -> None:
        store = open_store(settings_, store_name)
        try:
            await applied(store, [[write(key, 2, 20, rest, ["body"])]], settings_.tables)
            await applied(store, [[write(key, 3, 30, {"body": "b3", **rest}, None)]],
                          settings_.tables)  # fmt: skip
            [outcome] = await applied(store, [[write(key, 1, 10, {"body": "b1", **rest}, None)]],
                                      settings_.tables)  # fmt: skip
            assert outcome.stale == 1 and not outcome.holes
            [outcome] = await applied(store, [[write(key, 4, 40, rest, ["body"])]],
                                      settings_.tables)  # fmt: skip
            assert outcome.applied == 1 and not outcome.holes
            assert await store.get("docs", {"id": key}) == {"id": key, "body": "b3", **rest}
        finally:
            await store.close()

    asyncio.run(check())


def test_a_merge_meeting_a_write_made_after_its_read_reads_again(
    target: tuple[str, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker writes the item between the merge's read and its write: the guard
    refuses the stale merge, which reads again and keeps the newer value."""
    store_name, settings_ = target
    if store_name != "redis":
        pytest.skip("DynamoDB's guard is its condition, covered by the property")
    key = f"d:{uuid.uuid4().hex[:8]}"
    attributes = TARGETS[_name(target)][2]
    keep = ["body"]
    rest = {a: 1 for a in attributes if a != "body"}

    async def check() -> None:
        store, racer = open_store(settings_, "redis"), open_store(settings_, "redis")
        read = RedisMerges._read
        raced: list[int] = []

        async def read_then_race(self: RedisMerges, items: list[ItemId]) -> Any:
            found = await read(self, items)
            if not raced:  # the newer whole write lands between the read and the 'cas'
                raced.append(1)
                await racer.write(coalesce([write(key, 1, 5, {"body": "new", **rest}, None)],
                                           settings_.tables))  # fmt: skip
            return found

        monkeypatch.setattr(RedisMerges, "_read", read_then_race)
        try:
            await applied(store, [[write(key, 0, 1, {"body": "old", **rest}, None)]],
                          settings_.tables)  # fmt: skip
            await applied(store, [[write(key, 2, 9, rest, keep)]], settings_.tables)
            assert raced and await store.get("docs", {"id": key}) == {"id": key, "body": "new",
                                                                      **rest}  # fmt: skip
        finally:
            await store.close()
            await racer.close()

    asyncio.run(check())


def _visible(key: str, data: dict[str, Any] | None, layout: RedisLayoutSpec) -> Any:
    """The item as `get` shows it: a Redis hash cannot be empty, nor a template's value key
    hold no value, so such a layout shows an item without them as absent."""
    if data is None or (layout.layout == "hash" and not data):
        return None
    if layout.value_attribute is not None and layout.value_attribute not in data:
        return None
    return {"id": key, **data}


def _name(target: tuple[str, Settings]) -> str:
    store_name, settings_ = target
    layout = settings_.tables["docs"].redis
    return next(n for n, (s, held, _) in TARGETS.items() if s == store_name and held == layout)


def test_a_partial_upsert_over_a_key_of_another_type_is_refused_alone(
    target: tuple[str, Settings],
) -> None:
    """The application wrote a list where the layout keeps the item's data: the partial upsert
    is rejected naming the key, the write beside it applied, nothing raised."""
    store_name, settings_ = target
    if store_name != "redis" or settings_.tables["docs"].redis.layout == "cdc":
        pytest.skip("only layouts whose keys the application writes")
    attributes = TARGETS[_name(target)][2]
    key, other = (f"d:{uuid.uuid4().hex[:8]}" for _ in range(2))

    async def check() -> None:
        store = open_store(settings_, store_name)
        assert isinstance(store, RedisStore)
        try:
            data_key = store.layouts["docs"].data_key(ItemId("docs", key, ""))
            await store.client.rpush(data_key, "the application's")
            rest = {a: "v" for a in attributes if a != "body"}
            outcome = await store.write(coalesce([write(key, 1, 10, rest, ["body"]),
                                                  write(other, 1, 10, rest, ["body"])],
                                                 settings_.tables))  # fmt: skip
            assert [event.key["id"] for event, _ in outcome.rejected] == [key]
            assert data_key in outcome.rejected[0][1] and outcome.applied == 1
            assert await store.client.lrange(data_key, 0, -1) == [b"the application's"]
        finally:
            await store.close()

    asyncio.run(check())
