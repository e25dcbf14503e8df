"""The Faust app and its one agent: batches from the changes topic through the `Replicator`."""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, cast

import faust
from faust.types import EventT

from connectors.sink import Store
from streams.dlq import DeadLetterTopic, Headers
from streams.metrics import ReplicationMetrics
from streams.records import Record
from streams.replicator import BatchReport, Replicator
from streams.retry import Backoff
from streams.settings import Settings
from streams.web import add_views

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
    """The worker's app; tests pass in-memory stores and dead letters to run it without Kafka.

    `on_fatal` is called with an unexpected error (a bug, not a store being down): Faust would
    otherwise leave a dead agent in a live worker, consuming nothing and looking healthy.
    """
    app = faust.App(
        group_id,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap_servers.split(",")],
        key_serializer="raw",
        value_serializer="raw",
        datadir=settings.data_dir,
        web_enabled=settings.web_enabled,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_commit_interval=1.0,
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=settings.kafka_session_timeout_seconds / 10,
        topic_disable_leader=True,
        # Unacked events of an abandoned batch must not block shutdown or a rebalance; they
        # are redelivered to whoever owns the partition next.
        stream_wait_empty=False,
        topic_partitions=settings.topic_partitions,
    )
    changes = app.topic(
        settings.topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    async def send_dead_letter(
        topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> Any:
        return await app.producer.send_and_wait(topic, key, value, None, None, headers)

    dlq = dead_letters or DeadLetterTopic(settings.dlq_topic, send_dead_letter)
    metrics = ReplicationMetrics()
    if settings.web_enabled:
        add_views(app, metrics, settings, group_id)
    backoff = Backoff(maximum=settings.retry_max_backoff_seconds)

    @app.agent(changes, name="replicate")
    async def replicate(stream: faust.StreamT) -> None:
        stores = open_stores()
        replicator = Replicator(settings.tables, stores, dlq, backoff)
        try:
            batches = _event_batches(stream, settings.batch_max_events, settings.batch_max_seconds)
            async for events in batches:
                report = await replicator.process([_record(event) for event in events])
                metrics.observe(report)
                _log_batch(report)
                for event in events:
                    await stream.ack(event)
        except Exception as exc:
            log.critical("replication stopped by an unexpected error; nothing was acked past it")
            if on_fatal is None:
                raise
            await on_fatal(exc)
        finally:
            for store in stores:
                await store.close()

    return app


def _event_batches(
    stream: faust.StreamT, size: int, within: float
) -> AsyncIterator[Sequence[EventT]]:
    """Batches that stay unacked until we ack them (`take` and `take_events` ack in a `finally`,
    even when processing failed). Faust types them as values; they are events."""
    batches = cast(faust.Stream, stream).noack_take(size, within=within)
    return cast("AsyncIterator[Sequence[EventT]]", batches)


def _record(event: EventT) -> Record:
    message = event.message
    timestamp = int(message.timestamp * 1000) if message.timestamp else None
    return Record(
        message.topic, message.partition, message.offset, message.key, message.value, timestamp
    )


def _log_batch(report: BatchReport) -> None:
    per_store = ", ".join(
        f"{name}: {o.applied} applied {o.stale} stale" for name, o in report.outcomes.items()
    )
    log.info(
        "batch of %d records, %d items (%s), %d dead letters",
        report.records, report.items, per_store, len(report.dead_letters),
    )  # fmt: skip
