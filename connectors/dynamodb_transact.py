"""Version-guarded writes of many items per request: `TransactWriteItems`, each Put with its own
condition (CDC_DYNAMODB_WRITE_MODE=transact).

A conditional PutItem costs the client ~0.5 ms of CPU (build, sign, send, parse), so one process
tops out near 2,000 puts/s whatever DynamoDB's latency; a transaction of 100 Puts costs ~40 us
per item. DynamoDB bills 2 write units per item written in a transaction, twice a put's.

A transaction is all or nothing, which we do not need but must handle. When it is cancelled,
DynamoDB names each item's reason, in order:
  - ConditionalCheckFailed: the stored version is the same or newer: stale, counted, dropped;
  - None: the item was fine and is submitted again at once, without the stale ones;
  - ValidationError: the item can never be written: rejected (dead-lettered by the replicator);
  - anything else (TransactionConflict, throttling): every item not settled is retried with
    backoff by the caller, never dead-lettered.
A request refused whole as invalid (too large, a malformed item, by DynamoDB or by botocore's
own check) is split in halves until the culprit stands alone. A transaction may not hold two
operations on one item: a coalesced batch holds each item once.
"""

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ParamValidationError

from connectors.dynamodb_client import error_code, is_permanent
from streams.model.events import ChangeEvent

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TRANSACT_LIMIT = 100  # items per TransactWriteItems, DynamoDB's maximum
STALE = "ConditionalCheckFailed"
NOT_TRIED = "None"
INVALID = "ValidationError"

Result = bool | BaseException  # True applied, False stale, an error: retried or rejected
PutRequest = Callable[[ChangeEvent], Mapping[str, Any]]


async def write_transactions(
    client: "DynamoDBClient", pool: Executor, events: Sequence[ChangeEvent], put: PutRequest
) -> list[Result]:
    """Each event's result, in order: transactions of up to TRANSACT_LIMIT items, in flight at
    once on `pool`. An error that ends a whole transaction stands for each of its items."""
    loop = asyncio.get_running_loop()
    chunks = [events[i : i + TRANSACT_LIMIT] for i in range(0, len(events), TRANSACT_LIMIT)]
    parts = await asyncio.gather(
        *(loop.run_in_executor(pool, transact, client, [put(e) for e in c]) for c in chunks),
        return_exceptions=True,
    )
    results: list[Result] = []
    for chunk, part in zip(chunks, parts, strict=True):
        results.extend(part if isinstance(part, list) else [part] * len(chunk))
    return results


def transact(client: "DynamoDBClient", puts: Sequence[Mapping[str, Any]]) -> list[Result]:
    """One transaction's results, settling each item (see the module's docstring)."""
    results: dict[int, Result] = {}
    pending = list(range(len(puts)))
    while pending:
        try:
            client.transact_write_items(TransactItems=[{"Put": puts[i]} for i in pending])  # type: ignore[typeddict-item]
        except (ClientError, ParamValidationError) as exc:
            if isinstance(exc, ClientError) and error_code(exc) == "TransactionCanceledException":
                pending = _settle_cancelled(exc, pending, results)
                continue
            # Refused whole as malformed, by DynamoDB or by botocore's own check of the request:
            # halves until the bad item stands alone.
            if is_permanent(exc) and len(pending) > 1:
                _split(client, puts, pending, results)
            else:
                results.update(dict.fromkeys(pending, exc))
        else:
            results.update(dict.fromkeys(pending, True))
        pending = []
    return [results[i] for i in range(len(puts))]


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


def _split(
    client: "DynamoDBClient",
    puts: Sequence[Mapping[str, Any]],
    pending: list[int],
    results: dict[int, Result],
) -> None:
    half = len(pending) // 2
    for part in (pending[:half], pending[half:]):
        results.update(zip(part, transact(client, [puts[i] for i in part]), strict=True))


def _invalid(message: str) -> ClientError:
    """An item DynamoDB refused as invalid, shaped as the put's own refusal would be."""
    error = {"Error": {"Code": "ValidationException", "Message": message}}
    return ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]
