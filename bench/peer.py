"""The peer: Quix Streams in a virtualenv of its own, so its pins never meet ours."""

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import redis

from bench.workload import Workload

QUIX = "quixstreams[redis]==3.28.1"
SCRIPT = Path(__file__).with_name("quix_sink.py")


def peer_python(cache_dir: Path) -> Path:
    """The peer's interpreter, its virtualenv created on first use (from PyPI, ~20 s)."""
    venv = cache_dir / "bench-quix"
    python = venv / "bin" / "python"
    stamp = venv / f".installed-{QUIX}"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, QUIX], check=True)
        stamp.touch()
    return python


def quix_drain(workload: Workload, python: Path, db: int) -> float:
    """Seconds for Quix Streams to drain the topic into Redis database `db`, which is emptied
    first and after (its keys are the Kafka keys, as RedisSink writes them)."""
    settings = workload.for_run("quix")
    url = urlsplit(settings.redis_url)
    client = redis.Redis(host=url.hostname or "127.0.0.1", port=url.port or 6379, db=db)
    client.flushdb()
    try:
        argv = [str(python), str(SCRIPT), settings.kafka_bootstrap_servers, settings.topic,
                settings.group_id, url.hostname or "127.0.0.1", str(url.port or 6379), str(db),
                str(len(workload.events))]  # fmt: skip
        done = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=1800)
        seconds = float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
        _check_written(client, workload)
        return seconds
    finally:
        client.flushdb()
        client.close()


def _check_written(client: "redis.Redis", workload: Workload) -> None:
    """Every item has a key: the peer really wrote, the figure is not of an empty run."""
    keys = {event.item_id(workload.settings.tables[event.table]).kafka_key()
            for event in workload.events}  # fmt: skip
    found = int(client.dbsize())
    if found != len(keys):
        raise RuntimeError(f"Quix Streams wrote {found} keys, expected {len(keys)}")
