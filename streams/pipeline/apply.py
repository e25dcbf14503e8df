"""Write a coalesced batch to one store, waiting out transient failures for as long as it takes."""

import asyncio
import logging
import time
from collections.abc import Callable

from connectors.store import Batch, Store, WriteOutcome
from streams.retry import Backoff

log = logging.getLogger(__name__)
OnRetry = Callable[[str], None]  # called with the store's name at every retry, as it happens


async def write_until_done(
    store: Store, batch: Batch, backoff: Backoff, on_retry: OnRetry | None = None
) -> WriteOutcome:
    """Every write in `batch` ends applied, stale or rejected; none is left behind.

    Only the writes that met a transient failure are tried again, so a store that is down
    for a minute costs retries, not data. Cancellation (worker stopping) abandons the batch.
    """
    started = time.monotonic()
    done = WriteOutcome()
    pending = batch
    delays = backoff.delays()
    attempt = 0
    while pending:
        outcome = await store.write(pending)
        done.add_done(outcome)
        pending = outcome.retry
        if pending:
            attempt += 1
            delay = next(delays)
            log.warning(
                "%s: %d writes failed transiently (%r); attempt %d, retrying in %.2fs",
                store.name, len(pending), outcome.cause, attempt, delay,
            )  # fmt: skip
            if on_retry is not None:
                on_retry(store.name)  # a store down for an hour shows at once, not after
            await asyncio.sleep(delay)
    done.retries = attempt
    done.seconds = time.monotonic() - started
    return done
