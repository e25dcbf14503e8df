"""The results table: medians of runs, their spread, ratios measured within a run, targets."""

import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path


@dataclass(frozen=True)
class Row:
    name: str
    unit: str
    runs: list[float]
    ratio: str = ""  # e.g. "1.62x Quix", a median of per-run ratios
    target: str = ""
    met: bool | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def spread(self) -> str:
        low, high = min(self.runs), max(self.runs)
        return f"{_num(low)}-{_num(high)} (±{100 * (high - low) / 2 / self.median:.0f}%)"


def ratio_of(mine: Sequence[float], theirs: Sequence[float]) -> float:
    """Median of the per-run ratios: each pair was measured side by side, in the same run."""
    return statistics.median(a / b for a, b in zip(mine, theirs, strict=True))


def check(value: float, threshold: float, above: bool = True) -> bool:
    return value >= threshold if above else value < threshold


def table(rows: Sequence[Row]) -> str:
    head = "| figure | median | spread over runs | ratio (same runs) | target | met |"
    lines = [head, "|---|---:|---|---|---|---|"]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        median = f"{_num(r.median)} {r.unit}"
        lines.append(f"| {r.name} | {median} | {r.spread()} | {r.ratio} | {r.target} | {met} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = _first(Path("/proc/cpuinfo"), "model name", lambda v: v)
    mem = _first(
        Path("/proc/meminfo"), "MemTotal", lambda v: f"{int(v.split()[0]) / 2**20:.0f} GiB"
    )
    redis_version = _run(["redis-server", "--version"]).split(" v=")[-1].split()[0]
    java = (_run(["java", "-version"]).splitlines() or ["java ?"])[0]
    return "\n".join([
        f"- CPU: {cpu}, {os.cpu_count()} cores; memory {mem}; {platform.platform()}",
        f"- Python {platform.python_version()}; faust-streaming {version('faust-streaming')}, "
        f"aiokafka {version('aiokafka')}, redis-py {version('redis')}, moto {version('moto')}, "
        f"aiodynamo {version('aiodynamo')}, boto3 {version('boto3')}",
        f"- Kafka 3.9.1 (KRaft, one broker, {java}); redis-server {redis_version}; "
        "DynamoDB API: moto server (the legacy app's job: also dynalite 4.0.0); "
        "Quix Streams 3.28.1 "
        "and Bytewax 0.21.1 (virtualenvs of their own)",
        "- Everything on loopback, on the same machine as the benchmark itself.",
    ])  # fmt: skip


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def _first(path: Path, field: str, show: Callable[[str], str]) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(field):
            return show(line.split(":", 1)[1].strip())
    return "?"


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return ""
    return (done.stdout + done.stderr).strip()
