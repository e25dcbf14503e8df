"""Logging for the worker and the short commands: levels, and no secret in any line."""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

LEVELS = {
    "crit": logging.CRITICAL,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}
# Their debug lines dump signed requests: the access key id, and a session token if any, which
# we cannot know to scrub (they may come from AWS's credential chain, not from our settings).
CREDENTIAL_DUMPERS = ("botocore", "boto3")
MASK = "***"
# Faust's own line format (mode's, less its `extra`), so what the worker logs before Faust has
# set up its logging (settings and topic warnings) reads like what it logs after.
LINE_FORMAT = "[%(asctime)s] [%(process)s] [%(levelname)s]: %(message)s"


def configure_worker_logging(loglevel: str, secrets: Sequence[str]) -> None:
    level = LEVELS[loglevel]
    logging.basicConfig(level=level, format=LINE_FORMAT)
    for name in CREDENTIAL_DUMPERS:
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    logging.getLogger("aiokafka").setLevel(logging.NOTSET)
    # The lag refresh assigns a consumer every few seconds, which aiokafka logs in six lines
    # each time; our rebalance listener already logs the worker's own assignments.
    logging.getLogger("aiokafka.consumer.subscription_state").setLevel(max(level, logging.WARNING))
    scrub_secrets(secrets)


class KafkaCauses(logging.Handler):
    """For the short commands: keeps, instead of printing, the errors aiokafka logs rather than
    raises. Its bootstrap logs why each broker failed (refused, TLS, a wrong SASL password) and
    raises only "Unable to bootstrap"; the CLI's one error line names the logged cause."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: BaseException | None = None

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        errors = [arg for arg in args if isinstance(arg, BaseException)]
        if errors:
            self.last = errors[-1]


@contextmanager
def kafka_causes_kept() -> Iterator[KafkaCauses]:
    causes, logger = KafkaCauses(), logging.getLogger("aiokafka")
    level = logger.level  # the stack's readiness probe silences aiokafka
    logger.addHandler(causes)
    logger.setLevel(logging.WARNING)
    logger.propagate = False  # without logging configured, its errors would reach stderr
    try:
        yield causes
    finally:
        logger.removeHandler(causes)
        logger.setLevel(level)
        logger.propagate = True


def scrub_secrets(secrets: Sequence[str]) -> None:
    """Mask every secret in every record from now on, whoever logs it (Faust sets up its own
    handlers later, so a record factory, not a handler filter)."""
    secrets = [secret for secret in secrets if secret]
    if not secrets:
        return
    make_record = logging.getLogRecordFactory()

    def scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return scrub(make_record(*args, **kwargs), secrets)

    logging.setLogRecordFactory(scrubbed_record)


def scrub(record: logging.LogRecord, secrets: Sequence[str]) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a malformed call: the handler reports it, as usual
        return record
    if any(secret in message for secret in secrets):
        for secret in secrets:
            message = message.replace(secret, MASK)
        record.msg, record.args = message, ()
    return record
