"""Liveness and readiness of a worker, as /health and /ready answer them.

Healthy (alive): the event loop turns (a heartbeat task beats every second), every store's
agent runs, and no store's batch is wedged. A batch waiting on a store that is down is not
wedged: it retries, and every retry is progress. A batch is wedged when it made no progress
(no retry, not done) for `CDC_HEALTH_STUCK_SECONDS`, far longer than one attempt and backoff.

Ready: the heartbeat has started, each store's group gave this worker partitions, and every
store answers a probe.
A store that is down makes the worker not ready, but not unhealthy: restarting it would not help.

Degraded (ready, said in the body): a declared Debezium table has no running connector behind
it, or Kafka Connect does not answer. Nothing this worker does can fix that, and it still
applies whatever else arrives: not-ready would hold its rollouts and restarts for an upstream
pause, and a connector paused on purpose would make every worker unready.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.store import StoreWrites
from streams.kafka.connector_sources import SourceState

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 1.0
HEARTBEAT_LIMIT_SECONDS = 10.0  # the loop did not run the heartbeat for this long: wedged
# A loop wedged that long cannot answer /health meanwhile (a probe's timeout says so); once it
# turns again, /health still reports the stall for this long, so a probe sees it either way.
STALL_MEMORY_SECONDS = 30.0
PROBE_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 3.0

Clock = Callable[[], float]


@dataclass(frozen=True)
class Verdict:
    """An answer for /health or /ready: HTTP 200 when `ok`, else 503, with the reasons."""

    ok: bool
    reasons: list[str] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)  # said, without failing the check

    @property
    def http_status(self) -> int:
        return 200 if self.ok else 503

    def body(self, **details: Any) -> dict[str, Any]:
        status = "failing" if not self.ok else "degraded" if self.degraded else "ok"
        shown = {"degraded": self.degraded} if self.degraded else {}
        return {"status": status, "reasons": self.reasons, **shown, **details}


class Health:
    """What the worker's tasks report, and the verdicts drawn from it (pure, given a clock)."""

    def __init__(
        self,
        stores: Iterable[str],
        stuck_seconds: float,
        clock: Clock = time.monotonic,
        heartbeat_limit: float = HEARTBEAT_LIMIT_SECONDS,
    ) -> None:
        self.stores = list(stores)
        self.stuck_seconds = stuck_seconds
        self.heartbeat_limit = heartbeat_limit
        self.clock = clock
        self.last_beat: float | None = None  # None: the heartbeat has not started yet
        self.stalled: tuple[float, float] | None = None  # (when, for how long) the last stall
        self.progress: dict[str, float] = {}  # store -> last progress of its batch in flight
        self.assigned: dict[str, int] = {}  # store -> partitions its group gave this worker
        self.problems: dict[str, str] = {name: "not probed yet" for name in self.stores}
        self.agents: dict[str, bool] = {}  # store -> its agent runs (absent: not started yet)
        self.sources: list[SourceState] = []  # the Debezium tables' connectors, when watched

    def beat(self) -> None:
        """Called each second by a task on the loop. The time before its first beat (the
        worker starting, Kafka being waited for) is not a stall."""
        now = self.clock()
        if self.last_beat is not None and now - self.last_beat > self.heartbeat_limit:
            self.stalled = (now, now - self.last_beat)
        self.last_beat = now

    def batch_started(self, store: str) -> None:
        self.progress[store] = self.clock()

    def progressed(self, store: str) -> None:
        """A retry: the store failed transiently and the batch goes on."""
        if store in self.progress:
            self.progress[store] = self.clock()

    def batch_done(self, store: str) -> None:
        self.progress.pop(store, None)

    def agent_running(self, store: str, running: bool) -> None:
        self.agents[store] = running

    def partitions_assigned(self, store: str, count: int) -> None:
        self.assigned[store] = count

    def probed(self, store: str, problem: str | None) -> None:
        if problem is None:
            self.problems.pop(store, None)
        else:
            self.problems[store] = problem

    def sources_checked(self, states: list[SourceState]) -> None:
        self.sources = states

    def liveness(self) -> Verdict:
        now = self.clock()
        reasons = []
        silent = now - (self.last_beat if self.last_beat is not None else now)
        if silent > self.heartbeat_limit:
            reasons.append(f"event loop heartbeat missed for {silent:.0f}s")
        if self.stalled and now - self.stalled[0] < STALL_MEMORY_SECONDS:
            at, lasted = self.stalled
            reasons.append(f"event loop stalled for {lasted:.0f}s, {now - at:.0f}s ago")
        reasons += [f"{store}: agent stopped" for store, up in self.agents.items() if not up]
        for store, since in sorted(self.progress.items()):
            if now - since > self.stuck_seconds:
                reasons.append(f"{store}: batch in flight with no progress for {now - since:.0f}s")
        return Verdict(not reasons, reasons)

    def readiness(self) -> Verdict:
        # Before its first beat, /health could not tell a stalled loop: not ready yet.
        reasons = ["event loop heartbeat not started yet"] if self.last_beat is None else []
        reasons += [
            f"{store}: no partitions assigned"
            for store in self.stores
            if not self.assigned.get(store)
        ]
        reasons += [f"{store}: {problem}" for store, problem in sorted(self.problems.items())]
        degraded = [source.describe() for source in self.sources if not source.running]
        return Verdict(not reasons, reasons, degraded)


async def probe_stores(health: Health, stores: Iterable[StoreWrites]) -> None:
    """Ask every store whether it answers, each second, until cancelled."""
    opened = list(stores)
    while True:
        await asyncio.gather(*(_probe(health, store) for store in opened))
        await asyncio.sleep(PROBE_SECONDS)


async def _probe(health: Health, store: StoreWrites) -> None:
    try:
        await asyncio.wait_for(store.ping(), PROBE_TIMEOUT_SECONDS)
    except TimeoutError:
        problem: str | None = f"no answer within {PROBE_TIMEOUT_SECONDS:.0f}s"
    except Exception as exc:  # noqa: BLE001 -- any failure means "not answering", with its cause
        problem = f"not answering ({type(exc).__name__}: {str(exc)[:200]})"
    else:
        problem = None
    if problem != health.problems.get(store.name):
        log.log(logging.WARNING if problem else logging.INFO, "%s: %s", store.name,
                problem or "answers")  # fmt: skip
    health.probed(store.name, problem)
