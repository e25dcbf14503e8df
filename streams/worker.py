"""Run the replication worker: make sure topics and tables exist, then hand over to Faust."""

import asyncio
import logging
import signal
from collections.abc import Coroutine, Sequence
from typing import Any

import faust
from aiokafka.errors import KafkaError
from botocore.exceptions import BotoCoreError, ClientError

from connectors.dynamodb_store import access_refused, is_access_refused
from streams.app import create_app, group_for
from streams.errors import AccessRefusedError
from streams.kafka import Kafka
from streams.logs import configure_worker_logging
from streams.retry import Backoff
from streams.settings import Settings
from streams.stores import ensure_tables, open_stores
from streams.topic_health import check_topic
from streams.topics import TopicUnavailableError, changes_topics, ensure_topics

log = logging.getLogger(__name__)

# While starting, a broker or DynamoDB that is not there yet is waited for, not fatal.
STARTUP_TRANSIENT = (KafkaError, BotoCoreError, ClientError, OSError, TopicUnavailableError)


async def prepare(settings: Settings, store_names: Sequence[str]) -> None:
    created = await ensure_topics(Kafka.of(settings), changes_topics(settings))
    if created:
        log.info("created topics %s", ", ".join(created))
    await check_topic(settings, warn=log.warning)  # an existing topic made with wrong settings
    if "dynamodb" in store_names:
        tables = await asyncio.to_thread(ensure_tables, settings)
        if tables:
            log.info("created DynamoDB tables %s", ", ".join(tables))


async def prepare_until_ready(settings: Settings, store_names: Sequence[str]) -> None:
    delays = Backoff(initial=0.5, maximum=settings.retry_max_backoff_seconds).delays()
    while True:
        try:
            await prepare(settings, store_names)
        except STARTUP_TRANSIENT as exc:
            if is_access_refused(exc):
                raise access_refused(exc) from exc
            delay = next(delays)
            log.warning("waiting for Kafka/DynamoDB to answer (%r); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
        else:
            return


def run_worker(settings: Settings, store_names: Sequence[str], loglevel: str = "info") -> None:
    """Blocks until SIGTERM or SIGINT; the batch in flight is abandoned, never acked past."""
    configure_worker_logging(loglevel, settings.secret_values())
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if not _run_cancellable(loop, prepare_until_ready(settings, store_names)):
        return
    worker: faust.Worker | None = None
    refused: list[AccessRefusedError] = []
    stopping: list[asyncio.Future[None]] = []  # referenced, so the stop is not collected

    async def crash(exc: BaseException) -> None:
        # Exit non-zero so a supervisor restarts us; the batch was not acked, so it is retried.
        if worker is None:
            return
        if isinstance(exc, AccessRefusedError):  # no traceback: the CLI says it in one line
            refused.append(exc)
            stopping.append(asyncio.ensure_future(worker.stop()))
        else:
            await worker.crash(exc)

    group = group_for(settings, store_names)
    app = create_app(settings, group, lambda: open_stores(settings, store_names), on_fatal=crash)
    worker = faust.Worker(app, loop=loop, loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit:
        if refused:
            raise refused[0] from None  # exit 2 with one line, for a supervisor to page
        raise


def _run_cancellable(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> bool:
    """Run `coro` until done (True) or until SIGTERM/SIGINT cancel it (False)."""
    task = loop.create_task(coro)
    stop_signals = (signal.SIGTERM, signal.SIGINT)
    for sig in stop_signals:
        loop.add_signal_handler(sig, task.cancel)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        log.info("stopped while starting")
        return False
    finally:
        for sig in stop_signals:
            loop.remove_signal_handler(sig)
    return True
