"""`dlq list` and `dlq replay`: read the dead-letter topic, and send fixed letters back."""

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from streams.dlq import HEADER_MESSAGE, HEADER_OFFSET, HEADER_PARTITION, HEADER_REASON, HEADER_TOPIC
from streams.errors import InvalidEventError
from streams.events import decode_event
from streams.kafka import Kafka
from streams.publisher import Publisher
from streams.settings import Settings
from streams.topic_health import check_topic
from streams.topics import assign_all


@dataclass(frozen=True)
class Letter:
    offset: int
    partition: int
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, str]

    def as_json(self) -> dict[str, Any]:
        return {
            "dlq_partition": self.partition,
            "dlq_offset": self.offset,
            "reason": self.headers.get(HEADER_REASON),
            "message": self.headers.get(HEADER_MESSAGE),
            "origin": {
                "topic": self.headers.get(HEADER_TOPIC),
                "partition": _int(self.headers.get(HEADER_PARTITION)),
                "offset": _int(self.headers.get(HEADER_OFFSET)),
            },
            "value": (self.value or b"").decode(errors="replace")[:500],
        }


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


async def read_letters(settings: Settings, group: str | None = None) -> AsyncIterator[Letter]:
    """Every dead letter up to the end at the start (or, with `group`, those not yet replayed)."""
    kafka = Kafka.of(settings)
    consumer = kafka.consumer(
        group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        ends = await assign_all(consumer, kafka, settings.dlq_topic)
        if group is None:
            await consumer.seek_to_beginning(*ends)
        for tp in ends:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=2000)
                for m in batch.get(tp, []):
                    headers = {k: v.decode(errors="replace") for k, v in m.headers}
                    yield Letter(m.offset, m.partition, m.key, m.value, headers)
            if group is not None:
                await consumer.commit({tp: ends[tp]})  # replayed up to here
    finally:
        await consumer.stop()


async def list_letters(settings: Settings, limit: int) -> list[Letter]:
    letters = []
    async for letter in read_letters(settings):
        letters.append(letter)
        if len(letters) >= limit:
            break
    return letters


@dataclass
class ReplaySummary:
    read: int = 0
    republished: int = 0
    still_invalid: int = 0
    seconds: float = 0.0


async def replay_letters(settings: Settings) -> ReplaySummary:
    """Send back to the changes topic each letter that now passes validation (a table declared
    since, say); the rest stay where they are. A replay group remembers how far it got."""
    await check_topic(settings)  # the letters go back to it: say if it is unfit to keep them
    summary, started = ReplaySummary(), time.monotonic()
    kafka, topic = Kafka.of(settings), settings.topic
    async with Publisher(kafka, topic, settings.tables, "dlq-replay") as publisher:
        async for letter in read_letters(settings, group=f"{settings.group_id}-dlq-replay"):
            summary.read += 1
            try:
                event = decode_event(letter.value, settings.tables)
            except InvalidEventError:
                summary.still_invalid += 1
                continue
            summary.republished += await publisher.publish([event], checked=True)
    summary.seconds = time.monotonic() - started
    return summary
