"""Which Redis errors are worth waiting out, and which need an operator."""

from redis import exceptions as rexc

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
