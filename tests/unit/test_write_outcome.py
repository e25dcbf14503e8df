"""One classification of write results for every store: each store only says how it reads
its errors."""

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError
from redis import exceptions as rexc

from connectors.dynamodb.client import write_error_kind as dynamodb_kind
from connectors.redis.errors import write_error_kind as redis_kind
from connectors.store import ErrorKind, ErrorReader, WriteOutcome
from streams.model.errors import AccessRefusedError
from streams.model.events import ItemId
from tests.support import upsert

ITEM = ItemId("opponents", "o", "p")
EVENT = upsert("o", "p", 1)


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"},
                     "ResponseMetadata": {"HTTPStatusCode": status}}  # fmt: skip
    return ClientError(response, "PutItem")


def kind(name: ErrorKind | None) -> ErrorReader:
    """A store that reads every error as `name`."""
    return lambda exc: name


def test_true_is_applied_and_false_is_stale() -> None:
    outcome = WriteOutcome()
    for result in (True, False, True):
        outcome.count(ITEM, EVENT, result, "s", kind(None))
    assert (outcome.applied, outcome.stale, outcome.retry, outcome.rejected) == (2, 1, {}, [])


def test_errors_count_by_the_kind_the_store_reads() -> None:
    outcome = WriteOutcome()
    busy, bad = ConnectionError("busy"), ValueError("bad")
    outcome.count(ITEM, EVENT, busy, "s", kind("retry"))
    outcome.count(ITEM, EVENT, bad, "s", kind("reject"))
    assert outcome.retry == {ITEM: EVENT} and outcome.cause is busy
    assert outcome.rejected == [(EVENT, "s: bad")]
    assert outcome.applied == outcome.stale == 0


def test_a_refusal_stops_the_batch_and_anything_unread_is_raised() -> None:
    with pytest.raises(AccessRefusedError, match=r"^s refused access"):
        WriteOutcome().count(ITEM, EVENT, PermissionError("no"), "s", kind("refused"))
    with pytest.raises(KeyError):
        WriteOutcome().count(ITEM, EVENT, KeyError("bug"), "s", kind(None))


@pytest.mark.parametrize(
    ("error", "expected"),
    [(rexc.AuthenticationError("x"), "refused"), (rexc.NoPermissionError("x"), "refused"),
     (rexc.ConnectionError("x"), "retry"), (rexc.NoScriptError("x"), "retry"),
     (rexc.ResponseError("WRONGTYPE"), "reject"), (KeyboardInterrupt(), None)],
)  # fmt: skip
def test_redis_reads_access_errors_before_the_connection_errors_they_subclass(
    error: BaseException, expected: ErrorKind | None
) -> None:
    assert redis_kind(error) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [(client_error("AccessDeniedException"), "refused"), (client_error("x", 403), "refused"),
     (client_error("ValidationException"), "reject"),
     (ParamValidationError(report="bad"), "reject"),
     (client_error("ThrottlingException"), "retry"),
     (EndpointConnectionError(endpoint_url="http://x"), "retry"), (OSError("x"), "retry"),
     (ValueError("bug"), None)],
)  # fmt: skip
def test_dynamodb_reads_only_a_malformed_item_as_permanent(
    error: BaseException, expected: ErrorKind | None
) -> None:
    assert dynamodb_kind(error) == expected
