"""A declared topic that does not exist yet (a Debezium topic before Connect creates it): one
warning when first noticed and one line when it appears; at start, one naming the closest
existing topic when there is one (a misspelt `source` or `topic`).

aiokafka logs `Topic ... not found in cluster metadata` as an ERROR at every metadata refresh
(every 10 s here, see streams/pipeline/intake.py), once per consumer. That is expected while
Connect has not started the connector, so the repeats are dropped; every other aiokafka error
(an unauthorized topic, say) still comes through as it is.
"""

import difflib
import logging
from collections.abc import Callable, Iterable, Mapping

from streams.kafka.clients import KafkaLike
from streams.kafka.topics import kafka_admin
from streams.model.tables import TableSpec

log = logging.getLogger(__name__)
NOT_FOUND = "Topic %s not found in cluster metadata"  # aiokafka.cluster's log format
AIOKAFKA_CLUSTER = "aiokafka.cluster"


class MissingTopics(logging.Filter):
    """The topics noticed missing and not seen since; a filter on aiokafka's cluster logger."""

    def __init__(self) -> None:
        super().__init__()
        self.missing: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != NOT_FOUND or not isinstance(record.args, tuple) or not record.args:
            return True
        topic = str(record.args[0])
        if topic in self.missing:
            return False
        self.missing.add(topic)
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.msg = "topic %s does not exist yet: it is read as soon as it is created"
        return True

    def appeared(self, topics: Iterable[str]) -> None:
        """Say once that a topic noticed missing now exists (its partitions were assigned)."""
        for topic in sorted(self.missing.intersection(topics)):
            self.missing.discard(topic)
            log.info("topic %s now exists: reading it", topic)


MISSING_TOPICS = MissingTopics()


def watch_missing_topics() -> MissingTopics:
    """Install the filter (once, whoever calls) and return it."""
    logging.getLogger(AIOKAFKA_CLUSTER).addFilter(MISSING_TOPICS)
    return MISSING_TOPICS


def misspelt_topics(
    tables: Mapping[str, TableSpec], changes: str, existing: Iterable[str]
) -> list[str]:
    """A line per declared table whose topic does not exist while one of a close name does."""
    topics = sorted(t for t in existing if not t.startswith("__"))  # not Kafka's own
    lines = []
    for name, spec in sorted(tables.items()):
        topic = spec.feed_topic(changes)
        if topic == changes or topic in topics:
            continue
        close = difflib.get_close_matches(topic, topics, n=1, cutoff=0.8)
        if close:
            field = "topic" if spec.topic else "source"
            lines.append(
                f"table {name!r} reads topic {topic} ({field} in its declaration), which does "
                f"not exist: did you mean {close[0]}?"
            )
    return lines


async def warn_misspelt_topics(
    kafka: KafkaLike,
    tables: Mapping[str, TableSpec],
    changes: str,
    warn: Callable[[str], None],
) -> None:
    if all(spec.feed_topic(changes) == changes for spec in tables.values()):
        return
    async with kafka_admin(kafka) as admin:
        existing = await admin.list_topics()
    for line in misspelt_topics(tables, changes, existing):
        warn(line)
