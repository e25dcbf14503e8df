"""The Faust app: one agent and one consumer group per store, the web views and the producer."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.app.base import BootStrategy
from faust.types import AgentT
from faust.types.auth import CredentialsT

from connectors.store import Store
from streams.kafka.clients import Kafka, ssl_context
from streams.kafka.groups import copy_shared_group_offsets, in_store_order, store_group
from streams.kafka.records import Record
from streams.model.tables import TableSpec
from streams.pipeline.dlq import DeadLetterTopic, Headers
from streams.pipeline.intake import BatchIntake, OnBatch, run_with
from streams.pipeline.replicator import BatchReport, OnRetry, Replicator
from streams.retry import Backoff
from streams.settings import Settings
from streams.settings_parts import (
    IntakeSettings,
    KafkaSettings,
    TopicSettings,
    WorkerSettings,
    revealed,
)
from streams.stores import StoreOpener, prepare_store
from streams.worker.agents import add_store_agent, submit
from streams.worker.gc_tuning import tune_for_batches
from streams.worker.health import HEARTBEAT_SECONDS, Health, probe_stores
from streams.worker.metrics import ReplicationMetrics
from streams.worker.replica_identity import add_replica_identity_check
from streams.worker.sources import add_source_watch
from streams.worker.startup import store_answers, until_ready
from streams.worker.web import add_views, web_options

log = logging.getLogger(__name__)

OnFatal = Callable[[BaseException], Awaitable[None]]


def create_app(
    settings: Settings,
    store_names: Sequence[str],
    open_store: StoreOpener,
    dead_letters: DeadLetterTopic | None = None,
    on_fatal: OnFatal | None = None,
) -> faust.App:
    """The worker's app: per store, an agent `apply-<store>` and a task feeding it from the
    store's own group (`<CDC_GROUP_ID>-<store>`), so one store's outage never holds the other.

    `on_fatal` is called with an unexpected error (a bug, not a store being down): Faust would
    otherwise leave a dead task in a live worker, consuming nothing and looking healthy.

    The whole Settings: it assembles the app from every part, and prepares each store through
    the registry (streams/stores.py).
    """
    app = _faust_app(settings.kafka, settings.worker, settings.changes)
    dlq = dead_letters or DeadLetterTopic(settings.changes.dlq, partial(_send_dead_letter, app))
    stores = in_store_order(store_names)
    metrics = ReplicationMetrics(stores)
    health = Health(stores, settings.worker.health_stuck_seconds)
    # Set once a store's agent prepared it: probed before, a table about to be created would
    # be reported as "not answering".
    prepared = {name: asyncio.Event() for name in stores}
    openers = {name: partial(open_store, name) for name in stores}
    intake, worker, tables = settings.intake, settings.worker, settings.tables
    if worker.web_enabled:
        groups = {name: store_group(worker, name) for name in stores}
        add_views(app, metrics, health, intake, groups)
        _add_health_tasks(app, health, openers, prepared)
        every = worker.lag_refresh_seconds
        add_source_watch(
            app, health, metrics, debezium=settings.debezium, tables=tables, every=every
        )
    add_replica_identity_check(app, settings.debezium, tables)
    backoff = Backoff(maximum=worker.retry_max_backoff_seconds)

    def on_batch(report: BatchReport) -> None:
        metrics.observe(report)
        _log_batch(report)

    def on_retry(store: str) -> None:
        metrics.retried(store)
        health.progressed(store)

    async def fatal(exc: BaseException) -> None:
        if on_fatal is None:
            raise exc
        await on_fatal(exc)

    for name in stores:
        # The first store in STORE_NAMES dead-letters malformed records: once, not per store.
        owns_invalid = name == stores[0]
        replicator = partial(
            _replicator, tables, dlq, backoff, on_retry=on_retry, owns_invalid=owns_invalid
        )
        running = partial(health.agent_running, name)
        agent = add_store_agent(app, name, openers[name], replicator, running)
        feed = _Feed(name, agent, health, metrics, prepared[name])
        prepare = partial(prepare_store, settings, name)
        _add_feed(app, intake, feed, openers[name], prepare, on_batch=on_batch, fatal=fatal)
    return app


class _Feed:
    """A store's agent as its intake sees it: what it applies and owns is reported to /health,
    /ready and /metrics."""

    def __init__(
        self,
        store: str,
        agent: AgentT,
        health: Health,
        metrics: ReplicationMetrics,
        prepared: asyncio.Event,
    ) -> None:
        self.store = store
        self.agent = agent
        self.health = health
        self.metrics = metrics
        self.prepared = prepared

    async def apply(self, records: Sequence[Record]) -> BatchReport:
        self.health.batch_started(self.store)
        try:
            return await submit(self.agent, records)
        finally:
            self.health.batch_done(self.store)

    def assigned(self, partitions: set[TopicPartition]) -> None:
        self.health.partitions_assigned(self.store, len(partitions))
        self.metrics.assigned(self.store, {(tp.topic, tp.partition) for tp in partitions})


def _add_health_tasks(
    app: faust.App,
    health: Health,
    openers: Mapping[str, Callable[[], Store]],
    prepared: dict[str, asyncio.Event],
) -> None:
    @app.timer(HEARTBEAT_SECONDS)
    async def heartbeat() -> None:
        health.beat()

    async def probe_once_prepared(name: str) -> None:
        await prepared[name].wait()
        # Its own connection: a probe must not queue behind a batch that retries.
        store = openers[name]()
        try:
            await probe_stores(health, [store])
        finally:
            await store.close()

    @app.task
    async def probe() -> None:
        await asyncio.gather(*(probe_once_prepared(name) for name in openers))


def _faust_app(kafka: KafkaSettings, worker: WorkerSettings, changes: TopicSettings) -> faust.App:
    # Faust creates the datadir but not its parents: a worker may start in any folder.
    Path(worker.data_dir).mkdir(parents=True, exist_ok=True)
    app = faust.App(
        worker.group_id,
        broker=[f"kafka://{server}" for server in kafka.bootstrap_servers.split(",")],
        key_serializer="raw",
        value_serializer="raw",
        datadir=worker.data_dir,
        **web_options(worker),
        producer_acks=-1,
        broker_credentials=faust_credentials(kafka),
        topic_disable_leader=True,
        topic_partitions=changes.partitions,
    )
    # Faust's own consumer stays off: each store's intake fetches whole batches (it says why).
    app.boot_strategy = BootStrategy(app, enable_kafka_consumer=False)
    return app


async def _send_dead_letter(
    app: faust.App, topic: str, key: bytes | None, value: bytes | None, headers: Headers
) -> Any:
    return await app.producer.send_and_wait(topic, key, value, None, None, headers)


def _replicator(
    tables: Mapping[str, TableSpec],
    dlq: DeadLetterTopic,
    backoff: Backoff,
    store: Store,
    *,
    on_retry: OnRetry,
    owns_invalid: bool,
) -> Replicator:
    return Replicator(tables, store, dlq, backoff, on_retry, owns_invalid=owns_invalid)


def _add_feed(
    app: faust.App,
    settings: IntakeSettings,
    feed_of: _Feed,
    open_store: Callable[[], Store],
    prepare: Callable[[], Awaitable[None]],
    *,
    on_batch: OnBatch,
    fatal: OnFatal,
) -> None:
    """The task that fetches the store's group's batches and hands them to its agent. It waits
    for its own store only: a store down at start never keeps the other one's agent idle; a
    store refusing our credentials stops the worker at once, events or not."""
    store_name, agent = feed_of.store, feed_of.agent
    group = store_group(settings.worker, store_name)
    kafka = Kafka.of(settings.kafka)
    wait = settings.worker.retry_max_backoff_seconds

    async def start_and_run() -> None:
        # Named at once, even while its store is still being waited for.
        log.info("agent %s will apply the batches of group %s", agent.name, group)
        await until_ready(prepare, store_name, wait)
        await until_ready(partial(store_answers, open_store), store_name, wait)
        feed_of.prepared.set()
        copy_offsets = partial(
            copy_shared_group_offsets, kafka, settings.worker, settings.changes, group
        )
        await until_ready(copy_offsets, "Kafka", wait)
        log.info("agent %s applies the batches of group %s", agent.name, group)
        tune_for_batches()  # start-up is over: freeze what it made (streams/worker/gc_tuning.py)
        intake = BatchIntake(settings, group, feed_of.apply, on_batch, feed_of.assigned)
        await intake.run()

    @app.task
    async def feed() -> None:
        app.flow_control.resume()  # Faust resumes it with its own consumer, which is off
        await run_with(start_and_run(), fatal)


def _log_batch(report: BatchReport) -> None:
    per_store = ", ".join(
        f"{name}: {o.applied} applied {o.stale} stale" for name, o in report.outcomes.items()
    )
    log.info(
        "batch of %d records, %d items (%s), %d dead letters",
        report.records, report.items, per_store, len(report.dead_letters),
    )  # fmt: skip


def faust_credentials(kafka: KafkaSettings) -> CredentialsT | None:
    """The Kafka security settings (as streams.kafka.clients gives them to aiokafka's clients), as
    Faust's broker credentials: its producer sends the dead letters."""
    context = ssl_context(kafka)
    if kafka.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=revealed(kafka.sasl_password),
            ssl_context=context,
            mechanism=kafka.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
