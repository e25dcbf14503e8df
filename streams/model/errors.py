"""One root exception for the project, and the words for what becomes of an error (the table
of every error's outcome is streams.outcomes)."""

from typing import Literal, get_args

# Why a message is dead-lettered (its `cdc.error.reason` header, a metric label): the
# validation failures (streams.model.events, streams.pipeline.debezium), then the stores'.
Reason = Literal["not_json", "schema", "unknown_table", "bad_key", "bad_data", "too_large",
                 "truncate", "undecodable", "rejected_by_store", "key_collision"]  # fmt: skip
REASONS: tuple[Reason, ...] = get_args(Reason)
# What becomes of an error: retried with backoff, dead-lettered with a Reason, one line and
# exit code 2 (an operator or a user must act), or a traceback and exit code 1 (a bug).
Outcome = Literal["retry", "dead_letter", "exit_2", "exit_1"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


class ReplicatorError(Exception):
    """Root of every error cdc-replicator raises on purpose."""


class ConfigError(ReplicatorError):
    """A setting is missing or malformed; the message names the variable."""


class InvalidEventError(ReplicatorError):
    """A message can never be applied: it goes to the dead-letter topic, with `reason`."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class OperatorError(ReplicatorError):
    """Retrying cannot help, an operator must act: the worker stops with one line (exit 2),
    so that a supervisor pages someone instead of a worker idling while looking healthy."""


class AccessRefusedError(OperatorError):
    """A store refused our credentials or permissions: retrying cannot help, an operator must
    fix them. The worker stops (non-zero exit) so that a supervisor pages someone."""

    def __init__(self, store: str, cause: BaseException) -> None:
        detail = " ".join(str(cause).split())[:300]  # one line, whatever the server answered
        super().__init__(f"{store} refused access ({type(cause).__name__}: {detail})")


class StoreSchemaError(OperatorError):
    """An existing table or key layout lacks what the replicator relies on (a key, an index,
    TTL, keys sharing a cluster slot); the message names what is missing."""


class StackError(ReplicatorError):
    """A local service failed to start or answer."""
