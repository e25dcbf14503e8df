"""The legacy Redis source behind a password: CDC_REDIS_PASSWORD reaches seed-legacy, snapshot
(and its --workers parts, never through their command line) and verify --source; a key that is
not UTF-8 is a reported problem."""

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from streams.cli.main import main
from streams.kafka.topics import changes_topics, ensure_topics
from streams.stores import ensure_tables
from tests.conftest import Services
from tests.support.password_redis import PASSWORD, password_redis

pytestmark = pytest.mark.integration


def test_the_legacy_source_uses_cdc_redis_password(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with password_redis(tmp_path / "legacy") as legacy:
        settings = services.settings(redis_url=legacy.url(), redis_password=PASSWORD)
        asyncio.run(
            ensure_topics(settings.kafka_bootstrap_servers, changes_topics(settings.changes))
        )
        ensure_tables(settings.dynamodb, settings.tables)
        env = services.env(settings) | {"CDC_REDIS_PASSWORD": PASSWORD}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        tag = uuid.uuid4().hex[:8]
        flags = ["--zset-pattern", f"{tag}:o:{{owner_id}}",
                 "--meta-pattern", f"{tag}:m:{{owner_id}}:{{opponent_id}}"]  # fmt: skip

        assert main(["seed-legacy", "--owners", "40", "--per-owner", "5", *flags]) == 0
        client = redis.Redis.from_url(legacy.url(), password=PASSWORD)
        client.zadd(f"{tag}:o:".encode() + b"\xff\xfe", {"p": 1})
        client.set(f"{tag}:m:".encode() + b"\xff\xfe:p", "hi")
        client.close()

        argv = [sys.executable, "-m", "streams.cli.main", "snapshot", "--source", "redis-legacy",
                *flags, "--workers", "2", "--chunk", "20", "--max-rate", "200",
                "--checkpoint", str(tmp_path / "snap.json")]  # fmt: skip
        snapshot = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        command_lines = _command_lines_of_children(snapshot)
        out, err = snapshot.communicate(timeout=120)
        assert snapshot.returncode == 0, out + err
        assert command_lines and not any(PASSWORD.encode() in line for line in command_lines)
        assert b"published 200 items by 2 processes" in out and b", 1 problems" in out
        assert b"owner in the sorted-set key is not UTF-8" in out and b"\\xff\\xfe" in out
        assert PASSWORD.encode() not in out + err

        capsys.readouterr()
        assert main(["verify", "--source", "redis-legacy", "--json", *flags]) == 1
        [report] = json.loads(capsys.readouterr().out)
        assert report["counts"]["compared"] == 200  # no worker ran: all missing, none crashed
        assert report["counts"]["missing_in_dynamodb"] == 200


def _command_lines_of_children(proc: "subprocess.Popen[bytes]") -> list[bytes]:
    """The command lines of `proc`'s children, as `ps` shows them, sampled while it runs."""
    seen: dict[int, bytes] = {}
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                if parent == proc.pid:
                    seen[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes()
            except (OSError, ValueError, IndexError):
                continue
        time.sleep(0.1)
    return list(seen.values())


def test_a_redis_asking_for_a_password_names_the_setting(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    get = ["get", "--store", "redis", "opponents", "owner_id=o", "opponent_id=p"]
    with password_redis(tmp_path / "locked") as locked:
        for name, value in services.env(services.settings(redis_url=locked.url())).items():
            monkeypatch.setenv(name, value)
        for password, says in [
            (None, "error: Redis requires a password: set CDC_REDIS_PASSWORD (or put it in "
                   "CDC_REDIS_URL)\n"),
            ("wrong", "error: Redis: "),
        ]:  # fmt: skip
            if password:
                monkeypatch.setenv("CDC_REDIS_PASSWORD", password)
            assert main(get) == 2
            err = capsys.readouterr().err
            assert err.startswith(says) and err.count("\n") == 1, err
