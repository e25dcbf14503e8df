"""Version-guarded writes of many items per request: `TransactWriteItems`, each Put with its own
condition (CDC_DYNAMODB_WRITE_MODE=transact).

A conditional PutItem costs the client ~0.2 ms of CPU (build, sign, send, parse), so one process
tops out near 5,000 puts/s whatever DynamoDB's latency; a transaction of 100 Puts costs a few
tens of us per item. DynamoDB bills 2 write units per item written in a transaction, twice a
put's.

A transaction is all or nothing, which we do not need but must handle. When it is cancelled,
DynamoDB names each item's reason, in order:
  - ConditionalCheckFailed: the stored version is the same or newer: stale, counted, dropped;
  - None: the item was fine and is submitted again at once, without the stale ones;
  - ValidationError: the item can never be written: rejected (dead-lettered by the replicator);
  - anything else (TransactionConflict, throttling): every item not settled is retried with
    backoff by the caller, never dead-lettered.
Transactions keep to DynamoDB's limits: 100 items whose sizes add up to 4 MB. A request refused
whole as invalid all the same (a malformed item) is split in halves until the culprit stands
alone. A transaction may not hold two operations on one item: a coalesced batch holds each item
once. An endpoint without TransactWriteItems (an emulator) is a refusal, never retried.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from botocore.exceptions import ClientError

from connectors.dynamodb.client import error_code, is_permanent

TRANSACT_LIMIT = 100  # items per TransactWriteItems, DynamoDB's maximum
TRANSACT_BYTES = 4 * 1024 * 1024  # the items' aggregate size, by DynamoDB's rule, at most
STALE = "ConditionalCheckFailed"
NOT_TRIED = "None"
INVALID = "ValidationError"

Result = bool | BaseException  # True applied, False stale, an error: retried or rejected
Call = Callable[[str, Mapping[str, Any]], Awaitable[Mapping[str, Any]]]


class Write(Protocol):
    """A version-guarded write: the transaction item is `{kind: body}`; `size` its item's
    bytes by DynamoDB's rule."""

    @property
    def kind(self) -> str: ...

    @property
    def body(self) -> dict[str, Any]: ...

    @property
    def size(self) -> int: ...


W = TypeVar("W", bound=Write)


async def write_transactions(call: Call, writes: Sequence[Write]) -> list[Result]:
    """Each write's result, in order: transactions within DynamoDB's limits (TRANSACT_LIMIT
    items, TRANSACT_BYTES), all in flight at once (`call` bounds how many). An error that
    ends a whole transaction stands for each of its items."""
    chunks = transactions(writes)
    parts = await asyncio.gather(
        *(transact(call, chunk) for chunk in chunks), return_exceptions=True
    )
    results: list[Result] = []
    for chunk, part in zip(chunks, parts, strict=True):
        results.extend(part if isinstance(part, list) else [part] * len(chunk))
    return results


def transactions(writes: Sequence[W]) -> list[list[W]]:
    """`writes` in order, cut into transactions of at most TRANSACT_LIMIT items whose sizes
    add up to at most TRANSACT_BYTES (each item is at most 400 KB)."""
    chunks: list[list[W]] = []
    size = 0
    for write in writes:
        if not chunks or len(chunks[-1]) == TRANSACT_LIMIT or size + write.size > TRANSACT_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(write)
        size += write.size
    return chunks


async def transact(call: Call, writes: Sequence[Write]) -> list[Result]:
    """One transaction's results, settling each item (see the module's docstring)."""
    results: dict[int, Result] = {}
    pending = list(range(len(writes)))
    while pending:
        items = [{writes[i].kind: writes[i].body} for i in pending]
        try:
            await call("TransactWriteItems", {"TransactItems": items})
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                pending = _settle_cancelled(exc, pending, results)
                continue
            # Refused whole as malformed: halves until the bad item stands alone.
            if is_permanent(exc) and len(pending) > 1:
                await _split(call, writes, pending, results)
            else:
                results.update(dict.fromkeys(pending, exc))
        else:
            results.update(dict.fromkeys(pending, True))
        pending = []
    return [results[i] for i in range(len(writes))]


def _settle_cancelled(
    exc: ClientError, pending: list[int], results: dict[int, Result]
) -> list[int]:
    """Stale and invalid items settled; the innocent ones to submit again at once, or none
    (all left to the caller's backoff) when any item met a transient failure."""
    reasons = exc.response.get("CancellationReasons") or []
    if len(reasons) != len(pending):  # no reasons to go by: all retried later
        results.update(dict.fromkeys(pending, exc))
        return []
    again = []
    for index, reason in zip(pending, reasons, strict=True):
        code = reason.get("Code", NOT_TRIED)
        if code == STALE:
            results[index] = False
        elif code == INVALID:
            results[index] = _invalid(reason.get("Message", "invalid item"))
        elif code == NOT_TRIED:
            again.append(index)
        else:
            results[index] = exc
    if any(results.get(i) is exc for i in pending):
        results.update(dict.fromkeys(again, exc))
        return []
    return again


async def _split(
    call: Call, writes: Sequence[Write], pending: list[int], results: dict[int, Result]
) -> None:
    half = len(pending) // 2
    for part in (pending[:half], pending[half:]):
        done = await transact(call, [writes[i] for i in part])
        results.update(zip(part, done, strict=True))


def _invalid(message: str) -> ClientError:
    """An item DynamoDB refused as invalid, shaped as the put's own refusal would be."""
    error = {"Error": {"Code": "ValidationException", "Message": message}}
    return ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]
