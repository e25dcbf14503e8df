import asyncio
import json
import time
from pathlib import Path

import pytest

from connectors.sources.snapshot_source import Part, SourceItem
from streams.model.errors import ConfigError, InvalidEventError
from streams.model.events import ChangeEvent, Version
from streams.model.tables import DEFAULT_TABLES
from streams.snapshot.parts import PartCheckpoints, _summed
from streams.snapshot.run import Checkpoint, RateLimiter, snapshot_event, snapshot_message

TABLES = dict(DEFAULT_TABLES)
ITEM = SourceItem(
    "opponents", {"owner_id": "1,a", "opponent_id": "2,b"}, {"metadata": "hi", "timestamp": 5}
)


def test_a_snapshot_read_has_the_lowest_version_and_a_content_id() -> None:
    event = snapshot_event(ITEM, "redis-legacy", TABLES)
    assert event.ts == 0 and event.origin == "snapshot:redis-legacy"
    assert snapshot_event(ITEM, "redis-legacy", TABLES) == event  # same data, same version
    changed = SourceItem(ITEM.table, ITEM.key, {"metadata": "other", "timestamp": 5})
    assert snapshot_event(changed, "redis-legacy", TABLES).event_id != event.event_id


def test_any_live_write_beats_a_snapshot_read() -> None:
    snap = snapshot_event(ITEM, "redis-legacy", TABLES)
    assert snap.version < Version(1, "a", "a")


def test_an_item_with_a_real_version_keeps_it() -> None:
    version = Version(42, "svc", "e1")
    tomb = SourceItem("opponents", ITEM.key, {}, version, deleted=True)
    event = snapshot_event(tomb, "dynamodb", TABLES)
    assert event.version == version and event.op == "delete"


def test_the_message_is_a_valid_change_event_keyed_by_item() -> None:
    key, value = snapshot_message(ITEM, "jsonl", TABLES)
    assert key == b'["opponents","1,a","2,b"]'
    assert ChangeEvent.model_validate_json(value).data == ITEM.data


@pytest.mark.parametrize(
    "item",
    [
        SourceItem("nope", ITEM.key, ITEM.data),
        SourceItem("opponents", {"owner_id": 1, "opponent_id": "x"}, ITEM.data),  # type: ignore[dict-item]
        SourceItem("opponents", ITEM.key, {"timestamp": "soon"}),
        SourceItem("opponents", ITEM.key, ["not", "an", "object"]),  # type: ignore[arg-type]
    ],
)
def test_items_that_cannot_apply_are_refused(item: SourceItem) -> None:
    with pytest.raises(InvalidEventError):
        snapshot_message(item, "jsonl", TABLES)


def test_checkpoint_round_trips_atomically(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path / "deep" / "cp.json")
    assert checkpoint.load() is None
    checkpoint.save("42", {"published": 7})
    assert checkpoint.load() == {"cursor": "42", "counts": {"published": 7}}
    assert json.loads((tmp_path / "deep" / "cp.json").read_text())["cursor"] == "42"
    assert not (tmp_path / "deep" / "cp.tmp").exists()


def test_rate_limiter_holds_the_average_rate() -> None:
    async def run() -> float:
        limiter, begin = RateLimiter(2000), time.monotonic()
        for _ in range(5):
            await limiter.admit(100)
        return time.monotonic() - begin

    assert asyncio.run(run()) >= 0.24  # 500 items at 2,000/s


def test_parts_are_named_from_one_and_share_out_every_key() -> None:
    assert Part.parse("2/4") == Part(1, 4) and str(Part(1, 4)) == "2/4"
    for bad in ("0/4", "5/4", "2", "a/b"):
        with pytest.raises(ValueError, match="K/N"):
            Part.parse(bad)
    keys = [f"opponents:{n},x".encode() for n in range(3000)]
    owners = [[key for key in keys if Part(i, 3).owns(key)] for i in range(3)]
    assert sorted(key for share in owners for key in share) == sorted(keys)  # each in one part
    assert all(800 < len(share) < 1200 for share in owners)  # and evenly, roughly


def test_part_checkpoints_resume_only_the_same_split(tmp_path: Path) -> None:
    checkpoints = PartCheckpoints(tmp_path / "snap.json")
    two = [Part(0, 2), Part(1, 2)]
    assert checkpoints.of(two[1]).path.name == "snap.part2of2.json"
    for part in two:
        checkpoints.of(part).save("c", {"published": 1})
        checkpoints.problems_of(part).write_text("{}\n")
    with pytest.raises(ConfigError, match="--workers 2"):
        checkpoints.prepare([Part()], resume=True)
    checkpoints.prepare(two, resume=True)  # same split: kept
    assert checkpoints.of(two[0]).load() is not None
    checkpoints.prepare([Part()], resume=False)  # starting over drops every earlier file
    assert not list(tmp_path.iterdir())


def test_the_summary_of_parts_adds_their_checkpoints_and_problems(tmp_path: Path) -> None:
    checkpoints, two = PartCheckpoints(tmp_path / "snap.json"), [Part(0, 2), Part(1, 2)]
    for n, part in enumerate(two):
        checkpoints.of(part).save("c", {"published": 10 + n, "problems": 1})
        checkpoints.problems_of(part).write_text(json.dumps({"key": f"k{n}", "reason": "r"}) + "\n")
    summary = _summed(checkpoints, two, seconds=2.0)
    assert summary.counts == {"published": 21, "problems": 2} and summary.rate == 10.5
    assert [problem.key for problem in summary.samples] == ["k0", "k1"]
