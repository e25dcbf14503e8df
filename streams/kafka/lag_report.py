"""The `lag` report: consumer groups watched over one window, as plain data (JSON-ready)."""

import asyncio
from collections.abc import Sequence
from typing import Any

from streams.kafka.clients import Kafka
from streams.kafka.lag import GroupSample, Status, watch_group, worst_status
from streams.settings import Settings


async def lag_report(
    settings: Settings, groups: Sequence[str], samples: int, interval: float
) -> dict[str, Any]:
    """Every group watched over the same window; the status is the worst of theirs."""
    kafka = Kafka.of(settings.kafka)
    watched = await asyncio.gather(
        *(watch_group(kafka, group, settings.topic, samples, interval) for group in groups)
    )
    reports = [
        _group_report(group, taken, status)
        for group, (taken, status) in zip(groups, watched, strict=True)
    ]
    return {
        "topic": settings.topic,
        "status": worst_status(status for _, status in watched).value,
        "groups": reports,
    }


def _group_report(group: str, taken: list[GroupSample], status: Status) -> dict[str, Any]:
    last = taken[-1]
    return {
        "group": group,
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
