"""A store's group commits: in order, only what the store holds, at most every
COMMIT_EVERY_SECONDS (each commit is a request both the worker and the broker pay for: one per
batch cost the worker ~5% of its CPU and the broker most of its share)."""

import asyncio
import logging
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

log = logging.getLogger(__name__)
COMMIT_EVERY_SECONDS = 0.5


class Commits:
    """Offsets applied but not committed yet, and the commits sent, one after another."""

    def __init__(self) -> None:
        self.consumer: AIOKafkaConsumer | None = None  # the one whose offsets are owed
        self._owed: dict[TopicPartition, int] = {}
        self._sending: asyncio.Future[None] | None = None  # the last commit sent
        self._timer: asyncio.TimerHandle | None = None
        self._next = 0.0  # the event loop's clock

    def owe(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit `offsets` now, or with the next commit if one went less than the interval ago.
        A commit that failed meanwhile raises here, stopping its intake."""
        if self._sending is not None and self._sending.done():
            self._sending.result()
        self._owed.update(offsets)
        if self._timer is not None:
            return  # they go with the commit already scheduled
        loop = asyncio.get_running_loop()
        delay = self._next - loop.time()
        if delay > 0:
            self._timer = loop.call_later(delay, self._send)
        else:
            self._send()

    async def settle(self) -> None:
        """Commit what is owed now and wait until that commit is done."""
        self._send()
        if self._sending is not None:
            await asyncio.shield(self._sending)

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._owed or self.consumer is None:
            return
        owed, self._owed = self._owed, {}
        self._sending = asyncio.ensure_future(_commit_after(self._sending, self.consumer, owed))
        self._next = asyncio.get_running_loop().time() + COMMIT_EVERY_SECONDS


async def _commit_after(
    previous: "asyncio.Future[None] | None",
    consumer: AIOKafkaConsumer,
    offsets: Mapping[TopicPartition, int],
) -> None:
    """Commit once the previous commit is done; if the partitions moved meanwhile, their new
    owner applies the batches again."""
    if previous is not None:
        await previous
    try:
        await consumer.commit(dict(offsets))
    except (CommitFailedError, IllegalStateError) as exc:
        log.warning("batch applied but not committed (%s); it will be applied again", exc)
