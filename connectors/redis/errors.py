"""Which Redis errors are worth waiting out, and which need an operator."""

from redis import exceptions as rexc

from connectors.store import WriteErrorOutcome
from streams.model.errors import AccessRefusedError

# Worth waiting out: the server is away, loading, failing over or out of memory for now.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    rexc.ConnectionError,
    rexc.TimeoutError,
    rexc.BusyLoadingError,
    rexc.TryAgainError,
    rexc.ClusterDownError,
    rexc.ReadOnlyError,
    rexc.OutOfMemoryError,
    rexc.NoScriptError,
    OSError,
)


# Not worth waiting out: wrong password, or an ACL that denies us. Checked before
# TRANSIENT_ERRORS, whose ConnectionError they subclass.
ACCESS_ERRORS: tuple[type[Exception], ...] = (
    rexc.AuthenticationError,
    rexc.AuthorizationError,
    rexc.NoPermissionError,
)


def refused(exc: Exception) -> AccessRefusedError:
    return AccessRefusedError("redis", exc)


def write_error_outcome(exc: BaseException) -> WriteErrorOutcome | None:
    """How a failed script call counts in a WriteOutcome; access errors first, as their
    classes subclass ConnectionError."""
    if isinstance(exc, ACCESS_ERRORS):
        return "exit_2"
    if isinstance(exc, TRANSIENT_ERRORS):
        return "retry"
    if isinstance(exc, Exception):
        return "dead_letter"  # bad data, say a key of the wrong type
    return None


def wrong_type(reply: object) -> bool:
    """Whether a pipelined reply is Redis's WRONGTYPE: a key that holds another type (the
    application, or another table, wrote it). Any other error reply is raised."""
    if not isinstance(reply, rexc.ResponseError):
        return False
    if not str(reply).startswith("WRONGTYPE"):
        raise reply
    return True
