"""A declared topic that does not exist yet (a Debezium topic before Connect creates it): one
warning when first noticed and one line when it appears.

aiokafka logs `Topic ... not found in cluster metadata` as an ERROR at every metadata refresh
(every 10 s here, see streams/pipeline/intake.py), once per consumer. That is expected while
Connect has not started the connector, so the repeats are dropped; every other aiokafka error
(an unauthorized topic, say) still comes through as it is.
"""

import logging
from collections.abc import Iterable

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
