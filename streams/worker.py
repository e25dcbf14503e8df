"""Run the replication worker: make sure topics and tables exist, then hand over to Faust."""

import asyncio
import logging
from collections.abc import Sequence

import faust

from streams.app import create_app, group_for
from streams.settings import Settings
from streams.stores import ensure_tables, open_stores
from streams.topics import changes_topics, ensure_topics

log = logging.getLogger(__name__)


async def prepare(settings: Settings, store_names: Sequence[str]) -> None:
    created = await ensure_topics(settings.kafka_bootstrap_servers, changes_topics(settings))
    if created:
        log.info("created topics %s", ", ".join(created))
    if "dynamodb" in store_names:
        tables = await asyncio.to_thread(ensure_tables, settings)
        if tables:
            log.info("created DynamoDB tables %s", ", ".join(tables))


def run_worker(settings: Settings, store_names: Sequence[str], loglevel: str = "info") -> None:
    """Blocks until SIGTERM or SIGINT; the batch in flight is abandoned, never acked past."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(prepare(settings, store_names))
    app = create_app(
        settings, group_for(settings, store_names), lambda: open_stores(settings, store_names)
    )
    worker = faust.Worker(app, loop=loop, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
