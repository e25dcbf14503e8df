"""Waiting for services at start: a broker or a store that is not there yet is waited for."""

import asyncio
import errno
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from connectors.dynamodb.client import access_refused, is_access_refused
from connectors.redis import errors as redis_errors
from connectors.store import StoreWrites
from streams.model.errors import AccessRefusedError, ConfigError
from streams.outcomes import worker_retries
from streams.retry import Backoff

log = logging.getLogger(__name__)

# Linux: the range of local ports given to outgoing connections.
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Redis's refusals too: they subclass its ConnectionError (_refusal tells them apart).
STARTUP_TRANSIENT = worker_retries()
T = TypeVar("T")


async def until_ready(step: Callable[[], Awaitable[T]], what: str, max_backoff: float) -> T:
    """Run `step` until it stops failing transiently."""
    delays = Backoff(initial=0.5, maximum=max_backoff).delays()
    while True:
        try:
            return await step()
        except STARTUP_TRANSIENT as exc:
            refusal = _refusal(exc)
            if refusal is not None:  # waiting cannot help: an operator must fix it
                raise refusal from exc
            delay = next(delays)
            log.warning("waiting for %s to answer (%r); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)


def _refusal(exc: BaseException) -> AccessRefusedError | None:
    if isinstance(exc, redis_errors.ACCESS_ERRORS):
        return redis_errors.refused(exc)
    return access_refused(exc) if is_access_refused(exc) else None


async def store_answers(open_store: Callable[[], StoreWrites]) -> None:
    """Ping the store once: a store refusing our credentials (a wrong Redis password) stops
    the worker at start, rather than when the first event reaches it."""
    store = open_store()
    try:
        await store.ping()
    finally:
        await store.close()


def ensure_port_free(
    host: str, port: int, variable: str, ranges_file: Path = EPHEMERAL_RANGE_FILE
) -> None:
    """One clear line instead of the web server's traceback when the port is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            why = _who_holds(port, variable, ranges_file) if exc.errno == errno.EADDRINUSE else ""
            raise ConfigError(
                f"{variable}: cannot listen on {host}:{port} ({exc.strerror}){why}"
            ) from exc


def _who_holds(port: int, variable: str, ranges_file: Path) -> str:
    """Any process may hold the port; in the ephemeral range, even a connection going out
    (its local port), which no listener list shows and which comes and goes."""
    shown_by = f"`ss -tanp 'sport = :{port}'` shows which"
    ephemeral = ephemeral_ports(ranges_file)
    if ephemeral is not None and port in ephemeral:
        return (
            f": a socket of some process holds it ({shown_by}), perhaps an outgoing "
            f"connection, as {port} lies in this machine's ephemeral port range "
            f"{ephemeral.start}-{ephemeral.stop - 1}; choose a {variable} outside it"
        )
    return f": a socket of some process holds it ({shown_by}); choose another {variable}"


def ephemeral_ports(ranges_file: Path = EPHEMERAL_RANGE_FILE) -> range | None:
    """The local ports the kernel gives outgoing connections, if it says (Linux)."""
    try:
        low, high = (int(field) for field in ranges_file.read_text().split())
    except (OSError, ValueError):
        return None
    return range(low, high + 1)
