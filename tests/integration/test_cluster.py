"""The Redis store against a 3-master Redis Cluster (CDC_REDIS_URL=redis+cluster://...)."""

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.redis.store import RedisStore
from streams.devstack.process import port_open
from streams.model.events import ChangeEvent
from streams.settings import Settings
from streams.stores import open_redis
from tests.conftest import Services
from tests.integration.test_stores import run_property, unique_owners
from tests.support import REDIS_LAYOUTS, histories, upsert, with_redis_layout
from tests.support.cluster import redis_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster_settings(
    services: Services, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield services.settings(redis_url=url)


# The legacy app's templates with a hash tag, so each item's keys share a slot.
CLUSTER_LAYOUTS = REDIS_LAYOUTS | {
    "template": REDIS_LAYOUTS["template"].model_copy(
        update={"index_key": "opponents:{{owner_id}}", "key": "opponent:{{owner_id}}:{opponent_id}"}
    )
}


@pytest.mark.parametrize("layout", list(CLUSTER_LAYOUTS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(1, 8))
def test_redis_cluster_ends_in_the_lww_fold(
    cluster_settings: Settings, layout: str, data: st.DataObject, size: int
) -> None:
    events = data.draw(histories_for_cluster())
    settings_ = with_redis_layout(cluster_settings, CLUSTER_LAYOUTS[layout])
    run_property(settings_, "redis", events, size)


def histories_for_cluster() -> st.SearchStrategy[list[ChangeEvent]]:
    return histories(owners=unique_owners())


def test_a_batch_spans_every_node_and_listing_works(cluster_settings: Settings) -> None:
    owners = [uuid.uuid4().hex for _ in range(30)]  # hash tags spread over all slots

    async def run() -> tuple[int, list[str]]:
        store = open_redis(cluster_settings)
        assert isinstance(store, RedisStore)
        try:
            events = [
                upsert(o, f"p{i}", i + 1, metadata="x", timestamp=i)
                for o in owners
                for i in range(3)
            ]
            batch = {e.item_id(cluster_settings.tables["opponents"]): e for e in events}
            outcome = await store.write(batch)
            listed = await store.list_partition("opponents", owners[0], 10)
            return outcome.applied, [item["opponent_id"] for item in listed]
        finally:
            await store.close()

    applied, listed = asyncio.run(run())
    assert applied == 90 and listed == ["p2", "p1", "p0"]


def test_cluster_nodes_are_stopped_after_use(tmp_path: Path) -> None:
    with redis_cluster(tmp_path / "c") as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
    assert not port_open(port)
