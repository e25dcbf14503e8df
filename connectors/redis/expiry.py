"""Live-item expiry in Redis, the parts Python does: the `cdc` layout's expiry field and reads
(its item hash holds version and data together: the data is kept, unread, until the version
expires; connectors/redis/expiry.lua says why it stays)."""

import time

from streams.model.events import ChangeEvent
from streams.model.expiry import expires_at, is_past
from streams.model.tables import TableSpec


def expiry_field(spec: TableSpec, event: ChangeEvent) -> bytes:
    """The script's expiry field: empty for a table that declares none, else the instant in
    epoch ms or `never`."""
    if spec.expiry is None:
        return b""
    at = expires_at(spec.expiry, event.data, event.ts)
    return b"never" if at is None else str(at * 1000).encode()


def unread(data: bytes | None, expires: bytes | None) -> bool:
    """No data, or data past its expiry (field `x`, epoch ms)."""
    return data is None or (expires is not None and is_past(int(expires) / 1000, time.time()))
