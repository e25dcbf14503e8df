"""Run the replication worker: make sure topics and tables exist, then hand over to Faust."""

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from typing import Any

import faust

from streams.kafka.clients import Kafka
from streams.kafka.connector_sources import with_connector_placeholders
from streams.kafka.missing_topics import warn_misspelt_topics
from streams.kafka.topic_health import check_topic
from streams.kafka.topics import changes_topics, ensure_topics
from streams.logs import configure_worker_logging
from streams.model.errors import OperatorError
from streams.settings import Settings
from streams.stores import open_store, prepare_store
from streams.worker.app import create_app
from streams.worker.startup import ensure_port_free, until_ready

log = logging.getLogger(__name__)


async def prepare(
    settings: Settings, store_names: Sequence[str], warn: Callable[[str], None] = log.warning
) -> None:
    """The changes topics, then each store named. The whole Settings: the stores are prepared
    through the registry (streams/stores.py)."""
    created = await ensure_topics(Kafka.of(settings.kafka), changes_topics(settings.changes))
    if created:
        log.info("created topics %s", ", ".join(created))
    # An existing topic made with wrong settings.
    await check_topic(settings.kafka, settings.changes, warn=warn)
    await warn_misspelt_topics(
        Kafka.of(settings.kafka), settings.tables, settings.changes.name, warn
    )
    for name in store_names:
        await prepare_store(settings, name)


async def prepare_until_ready(settings: Settings, store_names: Sequence[str]) -> None:
    """`prepare`, retried with backoff until Kafka (and the stores) answer."""
    # A wrong address is waited for too: say which, and where it comes from.
    what = f"Kafka at {settings.kafka.bootstrap_servers} (CDC_KAFKA_BOOTSTRAP_SERVERS)"
    what += " or DynamoDB" if "dynamodb" in store_names else ""
    wait = settings.worker.retry_max_backoff_seconds
    await until_ready(lambda: prepare(settings, store_names), what, wait)


def run_worker(settings: Settings, store_names: Sequence[str], loglevel: str = "info") -> None:
    """Blocks until SIGTERM or SIGINT; the batch in flight is abandoned, never acked past.
    The whole Settings: the app is assembled from every part (`create_app`)."""
    web = settings.worker
    if web.web_enabled:
        ensure_port_free(web.web_host, web.web_port, "CDC_WEB_PORT")
    configure_worker_logging(loglevel, settings.secret_values())
    tables = with_connector_placeholders(settings.debezium, settings.tables, log.warning)
    settings = settings.model_copy(update={"tables": tables})
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The topics only: each store is prepared by its own agent's task, so a store that is
    # down at start never holds the other one back.
    if not _run_cancellable(loop, prepare_until_ready(settings, ())):
        return
    worker: faust.Worker | None = None
    refused: list[OperatorError] = []
    stopping: list[asyncio.Future[None]] = []  # referenced, so the stop is not collected

    async def crash(exc: BaseException) -> None:
        # Exit non-zero so a supervisor restarts us; the batch was not acked, so it is retried.
        if worker is None:
            return
        if isinstance(exc, OperatorError):  # no traceback: the CLI says it in one line
            refused.append(exc)
            stopping.append(asyncio.ensure_future(worker.stop()))
        else:
            await worker.crash(exc)

    app = create_app(settings, store_names, partial(open_store, settings), on_fatal=crash)
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
