import logging

import pytest

from streams.kafka.missing_topics import NOT_FOUND, MissingTopics

WAITING = "does not exist yet: it is read as soon as it is created"


def test_a_missing_topic_is_one_warning_then_one_line_when_it_appears(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.missing_topics")
    missing = MissingTopics()
    logger.addFilter(missing)
    try:
        with caplog.at_level(logging.INFO):
            for _ in range(3):  # three metadata refreshes
                logger.error(NOT_FOUND, "app.public.other")
            logger.error("Topic %s is not authorized for this client", "secret")
            missing.appeared(["changes", "app.public.other"])
            missing.appeared(["app.public.other"])
    finally:
        logger.removeFilter(missing)
    shown = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert shown == [
        ("WARNING", f"topic app.public.other {WAITING}"),
        ("ERROR", "Topic secret is not authorized for this client"),
        ("INFO", "topic app.public.other now exists: reading it"),
    ]
