"""The migration the layouts exist for, end to end: during a dual write the application keeps
writing its own Redis keys (ids with `:`, `%`, `{`, `}` and spaces) while a service publishes
changes, the worker applies them all to the same keys and to DynamoDB, and a snapshot of the
legacy keys runs. What the application reads raw (`ZREVRANGE`, then `MGET`) ends as the fold of
both writers' latest versions, and `verify --source redis-legacy` agrees after one repair."""

import asyncio
import itertools
import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from streams.cli.main import main
from streams.kafka.clients import Kafka
from streams.kafka.publisher import Publisher
from streams.model.events import ChangeEvent
from streams.settings import Settings
from tests.conftest import Services
from tests.support import REDIS_LAYOUTS, delete, upsert, with_redis_layout
from tests.support.worker import WorkerProcess, wait_caught_up

pytestmark = pytest.mark.integration

OWNERS = ["user:7", "50%", "{x}", "a b", "1,a", "%7B}"]
OPPONENTS = ["user:8", "5%25", "}y{", "c d", "2,b", "p:{q}"]
Item = tuple[str, str]
Held = tuple[str, int]  # metadata, timestamp


class Application:
    """The application during the dual write: its own keys, raw, and then (when it publishes)
    the same change as an event."""

    def __init__(self, client: Any, tag: str) -> None:
        self.client, self.tag = client, tag

    def listing(self, owner: str) -> str:
        return f"{self.tag}:opponents:{owner}"

    def key(self, owner: str, opponent: str) -> str:
        return f"{self.tag}:opponent:{owner}:{opponent}"

    def write(self, item: Item, held: Held | None) -> None:
        owner, opponent = item
        if held is None:
            self.client.delete(self.key(owner, opponent))
            self.client.zrem(self.listing(owner), opponent)
        else:
            self.client.set(self.key(owner, opponent), held[0])
            self.client.zadd(self.listing(owner), {opponent: held[1]})

    def reads(self) -> dict[Item, Held]:
        """Every owner's list as the application shows it: ZREVRANGE, then MGET."""
        shown: dict[Item, Held] = {}
        for owner in OWNERS:
            members = self.client.zrevrange(self.listing(owner), 0, -1, withscores=True)
            keys = [self.key(owner, member.decode()) for member, _ in members]
            values = self.client.mget(keys) if keys else []
            for (member, score), value in zip(members, values, strict=True):
                assert value is not None, f"{owner}/{member!r} listed without its key"
                shown[(owner, member.decode())] = (value.decode(), int(score))
        return shown


def test_the_applications_keys_end_as_the_fold_of_both_writers(
    services: Services, env_settings: Settings, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:  # fmt: skip
    tag = uuid.uuid4().hex[:8]
    zset, meta = f"{tag}:opponents:{{owner_id}}", f"{tag}:opponent:{{owner_id}}:{{opponent_id}}"
    layout = REDIS_LAYOUTS["template"].model_copy(update={"index_key": zset, "key": meta})
    settings = with_redis_layout(env_settings, layout)
    monkeypatch.setenv("CDC_TABLES", settings.as_env()["CDC_TABLES"])
    client: Any = redis.Redis.from_url(settings.redis_url)
    app, rng = Application(client, tag), random.Random(24)
    items = list(itertools.product(OWNERS, OPPONENTS))
    assert len({app.key(*item) for item in items}) == len(items)  # no two render one key
    expected: dict[Item, Held | None] = {}
    for n, item in enumerate(items[::2]):  # written before the replicator: a snapshot's job
        expected[item] = (f"legacy {n}", 1_000 + n)
        app.write(item, expected[item])

    worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
    snapshot = ["snapshot", "--source", "redis-legacy", "--zset-pattern", zset,
                "--meta-pattern", meta, "--max-rate", "20", "--chunk", "5",
                "--checkpoint", str(tmp_path / "snapshot.json")]  # fmt: skip
    legacy = ["verify", "--source", "redis-legacy", "--zset-pattern", zset, "--meta-pattern", meta]
    exits: list[int] = []
    snapshotting = threading.Thread(target=lambda: exits.append(main(snapshot)))
    try:
        snapshotting.start()
        steps = asyncio.run(
            dual_write(settings, app, items, expected, rng=rng, snapshotting=snapshotting)
        )
        snapshotting.join(timeout=120)
        assert exits == [0] and steps > 40  # the writes overlapped the snapshot
        wait_caught_up(settings, worker, timeout=300)
        live = {item: held for item, held in expected.items() if held is not None}
        assert app.reads() == live

        # Items the application wrote only to its keys, after the snapshot: one repair.
        for n, owner in enumerate(OWNERS):
            live[(owner, f"late:{{{n}}}")] = (f"only in Redis {n}", 50 + n)
            app.write((owner, f"late:{{{n}}}"), live[(owner, f"late:{{{n}}}")])
        capsys.readouterr()
        assert main([*legacy, "--store", "dynamodb", "--repair"]) == 1
        out = capsys.readouterr().out
        assert f"missing_in_dynamodb {len(OWNERS)}, republished {len(OWNERS)}" in out, out
        wait_caught_up(settings, worker, timeout=300)
        assert app.reads() == live
    finally:
        worker.stop()
        client.close()
    for store in ("dynamodb", "redis"):
        assert main([*legacy, "--store", store]) == 0, capsys.readouterr().out
        assert capsys.readouterr().out == f"opponents: agree; compared {len(live)}\n"
    assert main(["verify"]) == 0, capsys.readouterr().out


async def dual_write(
    settings: Settings, app: Application, items: list[Item],
    expected: dict[Item, Held | None], *, rng: random.Random, snapshotting: threading.Thread,
) -> int:  # fmt: skip
    """The application's writes (raw, then published) and a service's (published only),
    interleaved in version order while the snapshot runs, then a few more. Each version is
    later than every one before it, as two writers' clocks make them."""
    steps, clock = 0, time.time_ns() // 1000
    kafka = Kafka.of(settings.kafka)
    async with Publisher(kafka, settings.topic, settings.tables, "app") as pub:
        while snapshotting.is_alive() or steps < 60:
            item, clock = rng.choice(items), clock + 1
            held = None if rng.random() < 0.2 else (f"v{steps} of {item}", rng.randrange(10**9))
            writer = rng.choice(["app", "service"])
            if writer == "app":
                app.write(item, held)
            await pub.publish([event(item, held, clock, writer)])
            expected[item] = held
            steps += 1
            await asyncio.sleep(0.02)  # a pace, not a wait: the snapshot runs meanwhile
    return steps


def event(item: Item, held: Held | None, ts: int, origin: str) -> ChangeEvent:
    if held is None:
        return delete(*item, ts, origin)
    return upsert(*item, ts, origin, metadata=held[0], timestamp=held[1])
