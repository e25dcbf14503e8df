"""The peers, each draining the benchmark topic into a Redis database of its own: Quix Streams
and Bytewax in virtualenvs of their own (their pins never meet ours), and the plain Faust agent
in ours (Faust is our dependency already)."""

import json
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import redis

from bench.workload import Workload
from connectors.redis.store import LWW_SCRIPT

QUIX = ("quixstreams[redis]==3.28.1",)
BYTEWAX = ("bytewax[kafka]==0.21.1", "redis==5.2.1")
HERE = Path(__file__).resolve().parent


def peer_python(cache_dir: Path, name: str = "quix", requirements: tuple[str, ...] = QUIX) -> Path:
    """A peer's interpreter, its virtualenv created on first use (from PyPI, ~20 s)."""
    venv = cache_dir / f"bench-{name}"
    python = venv / "bin" / "python"
    stamp = venv / f".installed-{'-'.join(requirements).replace('/', '_')}"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *requirements], check=True)
        stamp.touch()
    return python


def quix_drain(workload: Workload, python: Path, db: int) -> float:
    """Seconds for Quix Streams to drain the topic into Redis database `db`."""
    settings = workload.for_run("quix")
    host, port = _redis_address(workload)
    argv = [str(python), str(HERE / "quix_sink.py"), settings.kafka_bootstrap_servers,
            settings.topic, settings.group_id, host, str(port), str(db),
            str(len(workload.events))]  # fmt: skip
    return _drain(workload, "Quix Streams", argv, db)


def bytewax_drain(workload: Workload, python: Path, db: int, lww: bool = False) -> float:
    """Seconds for Bytewax (its Kafka source, a pipelined Redis sink) to drain the topic: plain
    SETs, or with `lww` our LWW script per batch (keys of its own: one hash per item, one
    listing per owner)."""
    settings = workload.for_run("bytewax")
    host, port = _redis_address(workload)
    argv = [str(python), str(HERE / "bytewax_sink.py"), settings.kafka_bootstrap_servers,
            settings.topic, host, str(port), str(db)]  # fmt: skip
    if not lww:
        return _drain(workload, "Bytewax", argv, db)
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(LWW_SCRIPT)
        script.flush()
        return _drain(workload, "Bytewax (LWW)", [*argv, script.name], db, items_only=True)


def faust_drain(workload: Workload, db: int) -> float:
    """Seconds for the plain Faust agent (one SET per event) to drain the topic."""
    settings = workload.for_run("faust")
    url = urlsplit(settings.redis_url)
    redis_url = url._replace(path=f"/{db}").geturl()
    datadir = f"{settings.data_dir}-{uuid.uuid4().hex[:6]}"
    argv = [sys.executable, "-m", "bench.faust_peer", settings.kafka_bootstrap_servers,
            settings.topic, settings.group_id, redis_url, str(len(workload.events)),
            datadir]  # fmt: skip
    return _drain(workload, "Faust", argv, db)


def _drain(
    workload: Workload, peer: str, argv: list[str], db: int, items_only: bool = False
) -> float:
    """Run a peer whose last line of output is {"seconds": ...}; Redis database `db` is emptied
    first and after (its keys are the Kafka keys, as the peers write them; with `items_only`,
    one key per item beside the listings)."""
    host, port = _redis_address(workload)
    client = redis.Redis(host=host, port=port, db=db)
    client.flushdb()
    try:
        done = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=1800)
        seconds = _seconds(peer, done.stdout)
        _check_written(client, workload, peer, "bw:i:*" if items_only else "*")
        return seconds
    finally:
        client.flushdb()
        client.close()


def _seconds(peer: str, output: str) -> float:
    """The figure from the peer's line {"seconds": ...}; frameworks print their own lines too."""
    lines = [line for line in output.splitlines() if line.startswith('{"seconds"')]
    if not lines:
        raise RuntimeError(f"{peer} printed no figure: {output[-2000:]}")
    return float(json.loads(lines[-1])["seconds"])


def _redis_address(workload: Workload) -> tuple[str, int]:
    url = urlsplit(workload.settings.redis_url)
    return url.hostname or "127.0.0.1", url.port or 6379


def _check_written(client: "redis.Redis", workload: Workload, peer: str, match: str) -> None:
    """Every item has a key: the peer really wrote, the figure is not of an empty run."""
    keys = {event.item_id(workload.settings.tables[event.table]).kafka_key()
            for event in workload.events}  # fmt: skip
    found = int(client.dbsize()) if match == "*" else sum(1 for _ in client.scan_iter(match, 1000))
    if found != len(keys):
        raise RuntimeError(f"{peer} wrote {found} keys, expected {len(keys)}")
