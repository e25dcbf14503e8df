"""The `lag` report: consumer groups watched over one window, as plain data (JSON-ready)."""

import asyncio
from collections.abc import Sequence
from typing import Any

from streams.kafka.clients import Kafka
from streams.kafka.lag import GroupSample, Status, consumed_topics, watch_group, worst_status
from streams.settings import Settings


async def lag_report(
    settings: Settings, groups: Sequence[str], samples: int, interval: float
) -> dict[str, Any]:
    """Every group on every topic it consumes (Debezium topics too), watched over the same
    window; the status is the worst of theirs."""
    kafka = Kafka.of(settings.kafka)
    topics = await consumed_topics(kafka, settings.tables, settings.topic)
    pairs = [(group, topic) for group in groups for topic in topics]
    watched = await asyncio.gather(
        *(watch_group(kafka, group, topic, samples, interval) for group, topic in pairs)
    )
    reports = [
        _group_report(group, topic, taken, status)
        for (group, topic), (taken, status) in zip(pairs, watched, strict=True)
    ]
    return {
        "topic": settings.topic,
        "status": worst_status(status for _, status in watched).value,
        "groups": reports,
    }


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
