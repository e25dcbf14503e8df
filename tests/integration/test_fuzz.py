"""Thousands of malformed messages mixed with valid ones, some with keys built to collide."""

import asyncio
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streams.cli import main
from streams.lww import visible_state
from streams.publisher import Publisher
from streams.settings import Settings
from tests.conftest import Services
from tests.integration.worker import WorkerProcess, read_topic, wait_for_fold
from tests.support import delete, upsert

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MALFORMED = 10_000
TRICKY_KEYS = [
    "a:b",
    "a",
    "b",
    "a%3Ab",
    "{x}",
    "x}",
    "é",
    "e\u0301",
    "a\nb",
    " ",
    "a:i:b",
    "\u202e",
    "💥",
]


def _event(template: dict[str, Any], **changes: Any) -> bytes:
    event = {k: v for k, v in template.items() if changes.get(k, 0) is not _DROP}
    event.update({k: v for k, v in changes.items() if v is not _DROP})
    return json.dumps(event).encode()


_DROP = object()


def malformed(rng: random.Random, template: dict[str, Any]) -> tuple[bytes, str]:
    """One message that can never apply, and the reason the worker must give."""
    field = rng.choice(["table", "op", "key", "ts", "origin", "event_id"])
    makers: list[tuple[Callable[[], bytes], str]] = [
        (lambda: b"\xff" + rng.randbytes(rng.randrange(64)), "not_json"),  # never JSON
        (lambda: json.dumps(rng.choice([[1, 2], 3, "text", None])).encode(), "schema"),
        (lambda: _event(template, **{field: _DROP}), "schema"),
        (
            lambda: _event(
                template, **{rng.choice(["ts", "key", "op"]): rng.choice(["1", [1], 1.5])}
            ),
            "schema",
        ),
        (lambda: _event(template, ts=rng.choice([-1, 2**60, -(2**40)])), "schema"),
        (lambda: _event(template, table=f"unknown-{rng.randrange(100)}"), "unknown_table"),
        (lambda: _event(template, key=rng.choice(BAD_KEYS)), "bad_key"),
        (lambda: _event(template, data=rng.choice(BAD_DATA)), "bad_data"),
        (lambda: _event(template).replace(b'"metadata": "m"', b'"metadata": NaN'), "bad_data"),
        (lambda: _event(template, data={"blob": "x" * 410_000}), "too_large"),
    ]
    weights = [10, 10, 10, 10, 10, 10, 10, 10, 10, 0.2]  # a few huge payloads, not thousands
    make, reason = rng.choices(makers, weights)[0]
    return make(), reason


BAD_KEYS = [
    {"owner_id": "", "opponent_id": "x"},
    {"owner_id": "x"},
    {"owner_id": "x", "opponent_id": "y", "z": "w"},
    {"owner_id": "x" * 1025, "opponent_id": "y"},
]
BAD_DATA = [
    {"timestamp": "now"},
    {"_v": "forged"},
    {"n": 10**50 + 1},
    {"owner_id": "dup"},
    {"f": 1e300},
]


def test_malformed_messages_are_dead_lettered_valid_ones_applied_keys_never_collide(
    services: Services, env_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = env_settings
    rng = random.Random(11)
    template = json.loads(upsert("o", "p", 1, metadata="m").to_json())
    pairs = [(owner, opponent) for owner in TRICKY_KEYS for opponent in TRICKY_KEYS[:6]]
    valid = [
        upsert(owner, opponent, ts + 1, metadata=f"{owner}|{opponent}|{ts}", timestamp=ts)
        for ts, (owner, opponent) in enumerate(pairs)
    ]
    valid += [delete(TRICKY_KEYS[0], TRICKY_KEYS[1], 10_000)]
    expected_reasons: dict[str, int] = {}
    bad = []
    for _ in range(MALFORMED):
        value, reason = malformed(rng, template)
        bad.append(value)
        expected_reasons[reason] = expected_reasons.get(reason, 0) + 1

    async def send() -> None:
        async with Publisher(
            settings.kafka_bootstrap_servers, settings.topic, settings.tables, "fuzz"
        ) as pub:
            step = len(bad) // len(valid) + 1
            for i, event in enumerate(valid):
                await pub.publish([event])
                await pub.send_messages(
                    [(b"junk", value) for value in bad[i * step : (i + 1) * step]]
                )

    asyncio.run(send())
    worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
    try:
        wait_for_fold(settings, valid, worker, timeout=240)
        assert worker.alive()
    finally:
        worker.stop()
    letters = asyncio.run(read_topic(settings, settings.dlq_topic, MALFORMED))
    got: dict[str, int] = {}
    for _, headers in letters:
        got[headers["cdc.error.reason"]] = got.get(headers["cdc.error.reason"], 0) + 1
    assert got == expected_reasons
    assert main(["verify"]) == 0  # every tricky key is its own item in both stores
    live = len(visible_state(valid, settings.tables))
    assert f"dynamodb {live}, redis {live}" in capsys.readouterr().out
