"""CPU time per event of every process involved: where an event's cost goes on a 2-core machine.

Throughput alone cannot tell a slow replicator from a saturated machine. With the CPU seconds
each process spent per event, the bound is arithmetic: N cores can do at most
N / (sum of CPU per event) events per second, however the work is spread.
"""

import os
import resource
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
OURSELVES = 0  # stands for the benchmark's own process in a meter's pids
CHILDREN = -1  # stands for its child processes that have ended (and were waited for)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process (any of its threads)."""
    if pid == OURSELVES:
        return time.process_time()
    if pid == CHILDREN:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


@dataclass(frozen=True)
class CpuMeter:
    """Reads the CPU time of named processes, e.g. {"redis-server": 4242}."""

    pids: Mapping[str, int]

    def with_process(self, name: str, pid: int) -> "CpuMeter":
        return CpuMeter({name: pid, **self.pids})

    def read(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}


def per_unit(
    before: Mapping[str, float], after: Mapping[str, float], units: int
) -> dict[str, float]:
    """Microseconds of CPU per unit (event, item) for each process between two readings."""
    return {name: 1e6 * (after[name] - before[name]) / units for name in before}


def breakdown(runs: Sequence[Mapping[str, float]], unit: str, one_process: bool = True) -> str:
    """'worker 36.1, redis-server 8.2 ...' (medians over runs), then two bounds: what the
    machine's cores allow for that total, and what the first process (ours, single-threaded
    where it counts) allows on one core, unless it is several processes."""
    medians = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    parts = ", ".join(f"{name} {value:.1f}" for name, value in medians.items())
    cores = os.cpu_count() or 1
    ours, alone = next(iter(medians.items()))
    bound = f"{parts}; at most {cores * 1e6 / sum(medians.values()):,.0f} {unit}/s on {cores} cores"
    return f"{bound}, {1e6 / alone:,.0f} {unit}/s for the {ours} on one" if one_process else bound


def totals(runs: Sequence[Mapping[str, float]]) -> list[float]:
    return [sum(run.values()) for run in runs]
