"""`dlq list` and `dlq replay`: thin calls into streams/pipeline/dlq_replay.py."""

from collections.abc import Collection

from streams.pipeline import dlq_replay
from streams.pipeline.dlq_replay import Letter, ReplaySummary
from streams.settings import Settings


async def list_letters(settings: Settings, limit: int) -> list[Letter]:
    return await dlq_replay.list_letters(settings, limit)


async def replay_letters(settings: Settings, discard: Collection[str] = ()) -> ReplaySummary:
    return await dlq_replay.replay_letters(settings, discard)
