"""Worker processes draining the benchmark topic into Redis, DynamoDB or both."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import CpuMeter, per_unit
from bench.workload import Workload
from streams.devstack.process import free_port
from streams.settings import Settings

MODES = {"redis": ["redis"], "dynamodb": ["dynamodb"], "both": ["redis", "dynamodb"]}
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Drain:
    seconds: float  # first applied batch to the last, scaled to the whole workload
    startup_seconds: float  # spawn to the first applied batch
    peak_rss_mb: float
    cpu_us: dict[str, float]  # CPU per event over the same window, by process
    store_seconds: dict[str, float]  # each store's own group, from its first batch to its last


def drain(
    workload: Workload,
    mode: str,
    meter: CpuMeter | None = None,
    timeout: float = 1800,
    workers: int = 1,
) -> Drain:
    """Spawn `cdc-replicator worker` (`workers` of them, one group) and watch their /stats
    until every event is applied.

    The rate counts from the first applied batch (start-up is reported apart), as for the
    other contenders: (events - applied at first sight) / (time from first sight to the end);
    with several workers, from the moment every one of them has applied a batch (the first
    to join the group starts alone). The CPU time of the workers and of `meter`'s processes is
    taken over that same window.
    """
    base = workload.for_run(f"ours-{mode}")
    begin = time.perf_counter()
    spawned = [_spawn_one(base, mode, n) for n in range(workers)]
    meter = meter or CpuMeter({})
    for n, (proc, _, _) in reversed(list(enumerate(spawned))):  # worker 1 is named first
        meter = meter.with_process(_worker_name(n), proc.pid)
    total, first, peak_kb, cpu_first = len(workload.events), None, 0, {}
    stores = {store: _StoreDrain(total) for store in MODES[mode]}
    try:
        while time.perf_counter() - begin < timeout:
            for proc, log, _ in spawned:
                if proc.poll() is not None:
                    raise RuntimeError(f"worker exited with {proc.returncode}; see {log}")
            peak_kb = max(peak_kb, *(peak_rss_kb(proc.pid) for proc, _, _ in spawned))
            each_worker = [_totals(url) for _, _, url in spawned]
            totals = sum(map(Counter, each_worker), Counter[str]())
            done = int(totals.get("records", 0))  # in every store
            now = time.perf_counter()
            for store, watched in stores.items():
                watched.see(now, int(totals.get(f"{store}.records", 0)))
            if first is None and all(t.get("records", 0) for t in each_worker):
                first, cpu_first = (now, done), meter.read()
            if done >= total and workers > 1 and (first is None or first[1] >= total):
                raise RuntimeError("the workers were never at work together: one joined late")
            if first and done >= total:
                (t0, n0) = first
                each = {store: watched.seconds(begin) for store, watched in stores.items()}
                if n0 >= total:  # all in the first batch: no rate to see but the whole run's
                    return Drain(now - begin, t0 - begin, peak_kb / 1024, {}, each)
                cpu = per_unit(cpu_first, meter.read(), total - n0)
                seconds = (now - t0) * total / (total - n0)
                return Drain(seconds, t0 - begin, peak_kb / 1024, cpu, each)
            time.sleep(POLL_SECONDS)
        logs = ", ".join(str(log) for _, log, _ in spawned)
        raise TimeoutError(f"workers did not drain {total} events in {timeout}s; see {logs}")
    finally:
        for proc, _, _ in spawned:
            proc.terminate()
        for proc, _, _ in spawned:
            proc.wait(60)


def _spawn_one(base: Settings, mode: str, n: int) -> tuple[subprocess.Popen[bytes], Path, str]:
    """One worker of the run's group, with a web port and a data folder of its own."""
    settings = base.model_copy(
        update={"web_enabled": True, "web_port": free_port(), "data_dir": f"{base.data_dir}-{n}"}
    )
    proc, log = spawn_worker(settings, mode)
    return proc, log, f"http://127.0.0.1:{settings.web_port}/stats"


def _worker_name(n: int) -> str:
    return "worker" if n == 0 else f"worker {n + 1}"


def spawn_worker(settings: Settings, mode: str) -> tuple[subprocess.Popen[bytes], Path]:
    """`cdc-replicator worker` for `mode`'s stores, logging to a file beside its data."""
    argv = [sys.executable, "-m", "streams.cli.main", "worker", "--stores", ",".join(MODES[mode]),
            "--loglevel", "warn"]  # fmt: skip
    log = Path(settings.data_dir + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        env = os.environ | settings.as_env()
        return subprocess.Popen(argv, env=env, stdout=out, stderr=out), log


@dataclass
class _StoreDrain:
    """One store's group drain, timed like the whole: first batch seen to the last."""

    total: int
    first: tuple[float, int] | None = None
    last: float | None = None

    def see(self, now: float, done: int) -> None:
        if done and self.first is None:
            self.first = (now, done)
        if done >= self.total and self.last is None:
            self.last = now

    def seconds(self, begin: float) -> float:
        if self.first is None or self.last is None:
            return float("nan")
        (t0, n0) = self.first
        if n0 >= self.total:
            return self.last - begin
        return (self.last - t0) * self.total / (self.total - n0)


def _totals(url: str) -> dict[str, float]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - loopback http
            return dict(json.load(reply)["totals"])
    except OSError:
        return {}  # the web server is not up yet


def peak_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
