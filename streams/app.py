"""The Faust app: the worker's lifecycle, web views and producer around the batch intake."""

import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import faust
from faust.app.base import BootStrategy
from faust.types.auth import CredentialsT

from connectors.sink import Store
from streams.dlq import DeadLetterTopic, Headers
from streams.intake import BatchIntake, run_with
from streams.kafka import ssl_context
from streams.metrics import ReplicationMetrics
from streams.replicator import BatchReport, Replicator
from streams.retry import Backoff
from streams.settings import Settings
from streams.web import add_views, web_options

log = logging.getLogger(__name__)

StoresFactory = Callable[[], Sequence[Store]]
OnFatal = Callable[[BaseException], Awaitable[None]]


def group_for(settings: Settings, store_names: Sequence[str]) -> str:
    """Both stores share the main group; a worker for a subset gets its own, to feed or rebuild
    one store without moving the other's offsets."""
    if sorted(store_names) == ["dynamodb", "redis"]:
        return settings.group_id
    return f"{settings.group_id}-{'-'.join(sorted(store_names))}"


def create_app(
    settings: Settings,
    group_id: str,
    open_stores: StoresFactory,
    dead_letters: DeadLetterTopic | None = None,
    on_fatal: OnFatal | None = None,
) -> faust.App:
    """The worker's app, around `open_stores` (and, if given, a dead-letter topic of the caller's).

    `on_fatal` is called with an unexpected error (a bug, not a store being down): Faust would
    otherwise leave a dead task in a live worker, consuming nothing and looking healthy.
    """
    # Faust creates the datadir but not its parents: a worker may start in any folder.
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    app = faust.App(
        group_id,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap_servers.split(",")],
        key_serializer="raw",
        value_serializer="raw",
        datadir=settings.data_dir,
        **web_options(settings),
        producer_acks=-1,
        broker_credentials=faust_credentials(settings),
        topic_disable_leader=True,
        topic_partitions=settings.topic_partitions,
    )
    # Faust's own consumer stays off: streams.intake consumes in batches (it says why).
    app.boot_strategy = BootStrategy(app, enable_kafka_consumer=False)

    async def send_dead_letter(
        topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> Any:
        return await app.producer.send_and_wait(topic, key, value, None, None, headers)

    dlq = dead_letters or DeadLetterTopic(settings.dlq_topic, send_dead_letter)
    metrics = ReplicationMetrics()
    if settings.web_enabled:
        add_views(app, metrics, settings, group_id)
    backoff = Backoff(maximum=settings.retry_max_backoff_seconds)

    def on_batch(report: BatchReport) -> None:
        metrics.observe(report)
        _log_batch(report)

    async def fatal(exc: BaseException) -> None:
        if on_fatal is None:
            raise exc
        await on_fatal(exc)

    @app.task
    async def replicate() -> None:
        stores = open_stores()
        replicator = Replicator(settings.tables, stores, dlq, backoff, metrics.retried)
        try:
            await run_with(BatchIntake(settings, group_id, replicator, on_batch), fatal)
        finally:
            for store in stores:
                await store.close()

    return app


def _log_batch(report: BatchReport) -> None:
    per_store = ", ".join(
        f"{name}: {o.applied} applied {o.stale} stale" for name, o in report.outcomes.items()
    )
    log.info(
        "batch of %d records, %d items (%s), %d dead letters",
        report.records, report.items, per_store, len(report.dead_letters),
    )  # fmt: skip


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """The Kafka security settings (as streams.kafka gives them to aiokafka's clients), as
    Faust's broker credentials: its producer sends the dead letters."""
    context = ssl_context(settings)
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
