"""Dead letters: the original bytes plus headers that say why and where they came from.

Header names follow Kafka Connect's `errors.deadletterqueue.context.headers` in spirit.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from streams.kafka.records import Record
from streams.model.errors import Reason

Headers = list[tuple[str, bytes]]
SendAndWait = Callable[[str, bytes | None, bytes | None, Headers], Awaitable[object]]

HEADER_REASON = "cdc.error.reason"
HEADER_MESSAGE = "cdc.error.message"
HEADER_TOPIC = "cdc.original.topic"
HEADER_PARTITION = "cdc.original.partition"
HEADER_OFFSET = "cdc.original.offset"

REJECTED_BY_STORE: Reason = "rejected_by_store"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Record
    reason: Reason  # short and stable, for metrics
    message: str  # human detail

    def headers(self) -> Headers:
        return [
            (HEADER_REASON, self.reason.encode()),
            (HEADER_MESSAGE, self.message[:2000].encode()),
            (HEADER_TOPIC, self.record.topic.encode()),
            (HEADER_PARTITION, str(self.record.partition).encode()),
            (HEADER_OFFSET, str(self.record.offset).encode()),
        ]


class DeadLetterTopic:
    """Publishes dead letters and waits until the broker holds each one."""

    def __init__(self, topic: str, send_and_wait: SendAndWait) -> None:
        self.topic = topic
        self._send_and_wait = send_and_wait

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        await asyncio.gather(
            *(
                self._send_and_wait(self.topic, dl.record.key, dl.record.value, dl.headers())
                for dl in letters
            )
        )
