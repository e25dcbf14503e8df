"""Drain rate of one worker: N change events into Redis only, DynamoDB only, and both.

    python -m bench.replicate [--events 200000] [--items 50000] [--modes redis,dynamodb,both]

Runs against the local stack (`make up`), each mode on a fresh topic, group, key prefix and
table, so runs never see each other's data. Events are published first; the clock starts when
the worker process is spawned and stops when its group has committed the whole topic, which
happens only after both stores hold every batch. Prints events/s, start-up time and peak RSS.
"""

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from streams.events import ChangeEvent
from streams.lag import fetch_lag_when_ready
from streams.publisher import Publisher
from streams.settings import Settings
from streams.tables import OPPONENTS
from streams.worker import prepare

MODES = {"redis": ["redis"], "dynamodb": ["dynamodb"], "both": ["redis", "dynamodb"]}


def workload(events: int, items: int, seed: int = 1) -> list[ChangeEvent]:
    """`events` writes over `items` items: 10% deletes, 20% duplicates, versions shuffled."""
    rng = random.Random(seed)
    distinct = int(events * 0.8)
    out: list[ChangeEvent] = []
    for i in range(distinct):
        item = rng.randrange(items)
        owner, opponent = f"owner-{item // 10}", f"opp-{item % 10}"
        ts = 1_700_000_000_000_000 + rng.randrange(10**9)
        op = "delete" if rng.random() < 0.1 else "upsert"
        data = (
            {"metadata": f"message {i}", "timestamp": ts // 1_000_000} if op == "upsert" else None
        )
        out.append(ChangeEvent.model_validate({
            "table": "opponents", "op": op, "key": {"owner_id": owner, "opponent_id": opponent},
            "data": data, "ts": ts, "origin": "bench", "event_id": f"e{i}",
        }))  # fmt: skip
    out += rng.choices(out, k=events - distinct)
    rng.shuffle(out)
    return out


@dataclass
class Drain:
    mode: str
    events: int
    seconds: float
    startup_seconds: float
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def settings_for_run() -> Settings:
    tag = uuid.uuid4().hex[:8]
    return Settings(
        topic=f"bench-{tag}",
        group_id=f"bench-{tag}",
        redis_key_prefix=f"bench{tag}",
        tables={"opponents": OPPONENTS.model_copy(update={"dynamodb_table": f"bench-{tag}"})},
        web_enabled=False,
        data_dir=f".stack/bench-{tag}",
    )


async def publish(settings: Settings, events: list[ChangeEvent]) -> None:
    await prepare(settings, ["redis", "dynamodb"])
    async with Publisher(
        settings.kafka_bootstrap_servers, settings.topic, settings.tables, "bench"
    ) as pub:
        await pub.publish(events)


async def committed_and_lag(settings: Settings, group: str) -> tuple[int, int]:
    parts = await fetch_lag_when_ready(settings.kafka_bootstrap_servers, group, settings.topic)
    if not parts:
        return 0, -1
    return sum(p.committed or 0 for p in parts), sum(p.lag for p in parts)


def drain(settings: Settings, mode: str, events: int) -> Drain:
    from streams.app import group_for  # noqa: PLC0415

    group = group_for(settings, MODES[mode])
    env = os.environ | settings.as_env()
    argv = [
        sys.executable,
        "-m",
        "streams.cli",
        "worker",
        "--sinks",
        ",".join(MODES[mode]),
        "--loglevel",
        "warn",
    ]
    log = Path(settings.data_dir + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        begin = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    first_commit = None
    peak_kb = 0
    try:
        while True:
            done, lag = asyncio.run(committed_and_lag(settings, group))
            peak_kb = max(peak_kb, _hwm_kb(proc.pid))
            if done and first_commit is None:
                first_commit = time.monotonic() - begin
            if lag == 0:
                break
            if proc.poll() is not None:
                raise SystemExit(f"worker exited; see {log}")
            time.sleep(0.25)
        seconds = time.monotonic() - begin
    finally:
        proc.terminate()
        proc.wait(60)
    return Drain(mode, events, seconds, first_commit or seconds, peak_kb / 1024)


def _hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--modes", default="redis,dynamodb,both")
    args = parser.parse_args()
    events = workload(args.events, args.items)
    mix = "10% deletes, 20% duplicates, shuffled"
    print(f"workload: {args.events} events over {args.items} items ({mix})")
    print(f"{'mode':<10}{'events/s':>10}{'wall s':>9}{'start-up s':>12}{'peak RSS MB':>13}")
    for mode in args.modes.split(","):
        settings = settings_for_run()
        asyncio.run(publish(settings, events))
        result = drain(settings, mode, len(events))
        rate, wall, start = result.rate, result.seconds, result.startup_seconds
        print(f"{mode:<10}{rate:>10.0f}{wall:>9.1f}{start:>12.1f}{result.peak_rss_mb:>13.0f}")


if __name__ == "__main__":
    main()
