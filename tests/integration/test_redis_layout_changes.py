"""A table's Redis layout changed under a live Redis, and the legacy source beside a layout
that is not the one it reads."""

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from streams.cli.main import main
from streams.kafka.topics import changes_topics, ensure_topics
from streams.model.errors import StoreSchemaError
from streams.model.redis_layout_spec import RedisLayoutSpec
from streams.settings import Settings
from streams.stores import open_store, prepare_store
from tests.conftest import Services
from tests.support import REDIS_LAYOUTS, delete, upsert, with_redis_layout
from tests.support.worker import WorkerProcess, publish, write_direct

pytestmark = pytest.mark.integration


def legacy_layout(settings: Settings) -> Settings:
    tag = uuid.uuid4().hex[:8]
    spec = REDIS_LAYOUTS["template"].model_copy(
        update={"index_key": f"{tag}:opponents:{{owner_id}}",
                "key": f"{tag}:opponent:{{owner_id}}:{{opponent_id}}"}
    )  # fmt: skip
    return with_redis_layout(settings, spec)


async def get(settings: Settings, owner: str, opponent: str) -> object:
    store = open_store(settings, "redis")
    try:
        return await store.get("opponents", {"owner_id": owner, "opponent_id": opponent})
    finally:
        await store.close()


def test_a_changed_layout_is_refused_until_a_rebuild_records_it(
    env_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cdc` -> `template` on a live Redis: the new keys hold no versions, so a late event would
    resurrect a deleted item there. Refused; a rebuild from the beginning writes the new keys
    (the delete's tombstone included) and records the layout."""
    before, after = env_settings, legacy_layout(env_settings)
    owner = uuid.uuid4().hex
    history = [upsert(owner, "p", 1, metadata="old", timestamp=1), delete(owner, "p", 3)]
    asyncio.run(publish(before, history))
    asyncio.run(prepare_store(before, "redis"))  # the worker's start: recorded
    asyncio.run(write_direct(before, "redis", history))
    with pytest.raises(StoreSchemaError) as refused:
        asyncio.run(prepare_store(after, "redis"))
    assert str(refused.value).startswith(
        "table opponents's Redis layout changed since this Redis was written (was cdc; now "
        f"template, key '{after.tables['opponents'].redis.key}', "
    ), refused.value
    assert "run `cdc-replicator rebuild --store redis --from-beginning`" in str(refused.value)

    monkeypatch.setenv("CDC_TABLES", after.as_env()["CDC_TABLES"])
    assert main(["rebuild", "--store", "redis", "--from-beginning"]) == 0, capsys.readouterr()
    asyncio.run(prepare_store(after, "redis"))  # recorded: no refusal
    late = upsert(owner, "p", 2, metadata="RESURRECTED", timestamp=2)
    asyncio.run(write_direct(after, "redis", [late]))
    assert asyncio.run(get(after, owner, "p")) is None
    with pytest.raises(StoreSchemaError):  # and the old layout is now the changed one
        asyncio.run(prepare_store(before, "redis"))


def test_the_worker_refuses_to_start_on_a_changed_key_template(
    services: Services, tmp_path: Path
) -> None:
    settings = legacy_layout(services.settings())
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, changes_topics(settings.changes)))
    asyncio.run(prepare_store(settings, "redis"))
    declared = settings.tables["opponents"].redis
    moved = with_redis_layout(settings, declared.model_copy(update={"key": f"{declared.key}:x"}))
    worker = WorkerProcess(services, moved, tmp_path / "worker.log", stores="redis")
    code = worker.start().exit_code()
    last = worker.log.read_text().splitlines()[-1]
    assert code == 2, worker.log_tail()
    assert last.startswith("error: table opponents's Redis layout changed since"), last
    assert "rebuild --store redis --from-beginning" in last, last


def test_the_legacy_source_beside_a_hash_layout_reads_only_the_legacy_keys(
    env_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hash layout's own listings (`...opponents:idx:{o}`) match the legacy sorted sets'
    pattern, but are the replicator's: not read as owners."""
    tag = uuid.uuid4().hex[:8]
    hashes = RedisLayoutSpec(layout="hash", key=f"{tag}:o:{{{{owner_id}}}}:{{opponent_id}}",
                             index_key=f"{tag}:opponents:idx:{{{{owner_id}}}}")  # fmt: skip
    settings = with_redis_layout(env_settings, hashes)
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    owner = uuid.uuid4().hex
    items = [upsert(owner, f"{n},b", 5, metadata=f"m{n}", timestamp=n) for n in range(2)]
    app: Any = redis.Redis.from_url(settings.redis_url)
    try:  # the legacy application's own keys
        app.zadd(f"{tag}:opponents:{owner}", {f"{n},b": n for n in range(2)})
        app.mset({f"{tag}:opponent:{owner}:{n},b": f"m{n}" for n in range(2)})
    finally:
        app.close()
    for store in ("redis", "dynamodb"):
        asyncio.run(write_direct(settings, store, items))
    legacy = ["verify", "--source", "redis-legacy", "--store", "dynamodb",
              "--zset-pattern", f"{tag}:opponents:{{owner_id}}",
              "--meta-pattern", f"{tag}:opponent:{{owner_id}}:{{opponent_id}}"]  # fmt: skip
    assert main(legacy) == 0, capsys.readouterr()
    assert capsys.readouterr().out == "opponents: agree; compared 2\n"
