"""/health and /ready verdicts: a wedged loop or batch is unhealthy, a store outage is not."""

import asyncio
import time

from streams.worker.health import (
    HEARTBEAT_LIMIT_SECONDS,
    STALL_MEMORY_SECONDS,
    Health,
    probe_stores,
)
from tests.support import MemoryStore

STUCK = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def health(clock: Clock) -> Health:
    return Health(["redis", "dynamodb"], STUCK, clock)


def turning(h: Health, clock: Clock, seconds: float) -> None:
    """Time passes on a loop that turns: the heartbeat beats every second."""
    for _ in range(int(seconds)):
        clock.now += 1
        h.beat()


def test_a_batch_that_retries_for_long_stays_healthy_one_without_progress_does_not() -> None:
    clock = Clock()
    h = health(clock)
    h.batch_started("dynamodb")
    for _ in range(10):  # a store down for 10 minutes: a retry every minute or less
        turning(h, clock, STUCK - 1)
        h.progressed("dynamodb")
        assert h.liveness().ok
    turning(h, clock, STUCK + 1)
    verdict = h.liveness()
    assert (verdict.ok, verdict.http_status) == (False, 503)
    assert verdict.reasons == ["dynamodb: batch in flight with no progress for 61s"]
    h.batch_done("dynamodb")
    assert h.liveness().ok


def test_a_loop_that_stops_turning_misses_its_heartbeat() -> None:
    clock = Clock()
    h = health(clock)
    clock.now += 60  # starting: nothing beats yet, and that is no stall
    assert h.liveness().ok
    h.beat()
    assert h.liveness().ok
    clock.now += HEARTBEAT_LIMIT_SECONDS + 1
    assert h.liveness().reasons == ["event loop heartbeat missed for 11s"]
    h.beat()  # the loop turns again: the stall is remembered for a while
    assert h.liveness().reasons == ["event loop stalled for 11s, 0s ago"]
    turning(h, clock, STALL_MEMORY_SECONDS)
    assert h.liveness().body() == {"status": "ok", "reasons": []}


def test_blocking_the_real_loop_shows_on_health_as_soon_as_it_turns_again() -> None:
    """A test double blocks the event loop; the beat comes from a task on that loop."""

    async def scenario() -> tuple[bool, bool]:
        h = Health(["redis"], STUCK, heartbeat_limit=0.5)
        beating = asyncio.ensure_future(_beat(h))
        await asyncio.sleep(0.1)
        before = h.liveness().ok
        time.sleep(1.0)  # noqa: ASYNC251 -- the wedge under test
        after = h.liveness().ok  # before the heartbeat task gets a turn
        beating.cancel()
        return before, after

    assert asyncio.run(scenario()) == (True, False)


async def _beat(h: Health) -> None:
    while True:
        h.beat()
        await asyncio.sleep(0.05)


def test_an_agent_that_stopped_is_unhealthy_until_it_runs_again() -> None:
    h = health(Clock())
    h.agent_running("redis", True)
    assert h.liveness().ok
    h.agent_running("redis", False)
    assert h.liveness().reasons == ["redis: agent stopped"]
    h.agent_running("redis", True)  # Faust's supervisor restarted it
    assert h.liveness().ok


def test_ready_needs_partitions_and_every_store_answering() -> None:
    h = health(Clock())
    assert h.readiness().reasons == [
        "event loop heartbeat not started yet",
        "redis: no partitions assigned",
        "dynamodb: no partitions assigned",
        "dynamodb: not probed yet",
        "redis: not probed yet",
    ]
    h.beat()
    h.partitions_assigned("redis", 3)
    h.partitions_assigned("dynamodb", 3)
    h.probed("redis", None)
    h.probed("dynamodb", "not answering (EndpointConnectionError: ...)")
    assert h.readiness().reasons == ["dynamodb: not answering (EndpointConnectionError: ...)"]
    h.probed("dynamodb", None)
    assert h.readiness().ok


class DownStore(MemoryStore):
    async def ping(self) -> None:
        raise ConnectionRefusedError(111, "Connection refused")


def test_probes_report_which_store_does_not_answer() -> None:
    h = Health(["redis", "dynamodb"], STUCK)

    async def one_round() -> None:
        probing = asyncio.ensure_future(
            probe_stores(h, [MemoryStore("redis"), DownStore("dynamodb")])
        )
        await asyncio.sleep(0.2)
        probing.cancel()

    asyncio.run(one_round())
    assert h.problems == {
        "dynamodb": "not answering (ConnectionRefusedError: [Errno 111] Connection refused)"
    }
