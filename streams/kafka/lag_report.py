"""The `lag` report: consumer groups watched over one window, as plain data (JSON-ready), and,
with CDC_CONNECT_URL set, the connector behind each declared Debezium table."""

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from streams.kafka.clients import Kafka
from streams.kafka.connector_sources import SourceState, read_source_states
from streams.kafka.lag import GroupSample, Status, consumed_topics, watch_group, worst_status
from streams.model.tables import TableSpec
from streams.settings_parts import DebeziumSettings, IntakeSettings

# A declared Debezium table with no running connector behind it (or Connect not answering):
# nothing new reaches the stores, whatever the groups do. Only a group that nothing consumes
# for (STOPPED) ranks above it.
SOURCE_DOWN = "SOURCE_DOWN"


async def lag_report(
    settings: IntakeSettings,
    debezium: DebeziumSettings,
    groups: Sequence[str],
    samples: int,
    interval: float,
) -> dict[str, Any]:
    """Every group on every topic it consumes (Debezium topics too), watched over the same
    window; the status is the worst of theirs and of the sources'."""
    kafka, topic = Kafka.of(settings.kafka), settings.changes.name
    topics = await consumed_topics(kafka, settings.tables, topic)
    pairs = [(group, topic) for group in groups for topic in topics]
    watched, sources = await asyncio.gather(
        asyncio.gather(
            *(watch_group(kafka, group, topic, samples, interval) for group, topic in pairs)
        ),
        _sources(debezium.connect_url, settings.tables),
    )
    reports = [
        _group_report(group, topic, taken, status)
        for (group, topic), (taken, status) in zip(pairs, watched, strict=True)
    ]
    report: dict[str, Any] = {
        "topic": topic,
        "status": report_status((status for _, status in watched), sources),
        "groups": reports,
    }
    if debezium.connect_url:
        report["sources"] = [source.as_json() for source in sources]
    return report


async def _sources(connect_url: str, tables: Mapping[str, TableSpec]) -> list[SourceState]:
    if not connect_url:
        return []
    return await read_source_states(connect_url, tables)


def report_status(groups: Iterable[Status], sources: Sequence[SourceState]) -> str:
    worst = worst_status(groups)
    if worst != Status.STOPPED and not all(source.running for source in sources):
        return SOURCE_DOWN
    return worst.value


def _group_report(
    group: str, topic: str, taken: list[GroupSample], status: Status
) -> dict[str, Any]:
    last = taken[-1]
    return {
        "group": group,
        "topic": topic,
        "status": status.value,
        "members": last.members,
        "lag": last.lag,
        "partitions": [
            {
                "partition": p.partition,
                "committed": p.committed,
                "end": p.end,
                "lag": p.lag,
                "lag_seconds": round(p.lag_seconds(last.taken_ms), 3),
            }
            for p in last.partitions
        ],
    }
