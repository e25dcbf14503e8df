"""Watching the connectors behind the declared Debezium tables (when CDC_CONNECT_URL is set):
each source's state goes to /ready (degraded), /lag, /stats and /metrics, and a change of state
to the log."""

import asyncio
import logging
from collections.abc import Callable, Mapping

import faust

from streams.kafka.connector_sources import SourceState, debezium_sources, read_source_states
from streams.model.tables import TableSpec
from streams.settings_parts import DebeziumSettings
from streams.worker.health import Health
from streams.worker.metrics import ReplicationMetrics

log = logging.getLogger(__name__)
OnStates = Callable[[list[SourceState]], None]


def add_source_watch(
    app: faust.App,
    health: Health,
    metrics: ReplicationMetrics,
    *,
    debezium: DebeziumSettings,
    tables: Mapping[str, TableSpec],
    every: float,
) -> None:
    """The watch, as a task of the app, each `every` seconds: only with CDC_CONNECT_URL set and
    a Debezium table."""
    if not (debezium.connect_url and debezium_sources(tables)):
        return

    def checked(states: list[SourceState]) -> None:
        health.sources_checked(states)
        metrics.set_sources(states)

    @app.task
    async def watch() -> None:
        await watch_sources(debezium.connect_url, tables, every, checked)


async def watch_sources(
    url: str, tables: Mapping[str, TableSpec], every: float, on_states: OnStates
) -> None:
    """Read every source's state each `every` seconds, until cancelled."""
    previous: dict[str, str] = {}
    while True:
        states = await read_source_states(url, tables)
        for state in states:
            if previous.get(state.source) != state.state:
                level = logging.INFO if state.running else logging.WARNING
                log.log(level, "%s", state.describe())
            previous[state.source] = state.state
        on_states(states)
        await asyncio.sleep(every)
