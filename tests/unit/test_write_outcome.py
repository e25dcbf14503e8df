"""One classification of write results for every store: each store only says how it reads
its errors."""

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError
from redis import exceptions as rexc

from connectors.dynamodb.client import write_error_outcome as dynamodb_outcome
from connectors.redis.errors import write_error_outcome as redis_outcome
from connectors.store import OutcomeReader, WriteErrorOutcome, WriteOutcome
from streams.model.errors import AccessRefusedError
from streams.model.events import ItemId
from tests.support import upsert

ITEM = ItemId("opponents", "o", "p")
EVENT = upsert("o", "p", 1)


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"},
                     "ResponseMetadata": {"HTTPStatusCode": status}}  # fmt: skip
    return ClientError(response, "PutItem")


def reads_as(name: WriteErrorOutcome | None) -> OutcomeReader:
    """A store that reads every error as `name`."""
    return lambda exc: name


def test_true_is_applied_and_false_is_stale() -> None:
    outcome = WriteOutcome()
    for result in (True, False, True):
        outcome.count(ITEM, EVENT, result, "s", reads_as(None))
    assert (outcome.applied, outcome.stale, outcome.retry, outcome.rejected) == (2, 1, {}, [])


def test_errors_count_by_the_outcome_the_store_reads() -> None:
    outcome = WriteOutcome()
    busy, bad = ConnectionError("busy"), ValueError("bad")
    outcome.count(ITEM, EVENT, busy, "s", reads_as("retry"))
    outcome.count(ITEM, EVENT, bad, "s", reads_as("dead_letter"))
    assert outcome.retry == {ITEM: EVENT} and outcome.cause is busy
    assert outcome.rejected == [(EVENT, "s: bad")]
    assert outcome.applied == outcome.stale == 0


def test_a_refusal_stops_the_batch_and_anything_unread_is_raised() -> None:
    with pytest.raises(AccessRefusedError, match=r"^s refused access"):
        WriteOutcome().count(ITEM, EVENT, PermissionError("no"), "s", reads_as("exit_2"))
    with pytest.raises(KeyError):
        WriteOutcome().count(ITEM, EVENT, KeyError("bug"), "s", reads_as(None))


@pytest.mark.parametrize(
    ("error", "expected"),
    [(rexc.AuthenticationError("x"), "exit_2"), (rexc.NoPermissionError("x"), "exit_2"),
     (rexc.ConnectionError("x"), "retry"), (rexc.NoScriptError("x"), "retry"),
     (rexc.ResponseError("WRONGTYPE"), "dead_letter"), (KeyboardInterrupt(), None)],
)  # fmt: skip
def test_redis_reads_access_errors_before_the_connection_errors_they_subclass(
    error: BaseException, expected: WriteErrorOutcome | None
) -> None:
    assert redis_outcome(error) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [(client_error("AccessDeniedException"), "exit_2"), (client_error("x", 403), "exit_2"),
     (client_error("ValidationException"), "dead_letter"),
     (ParamValidationError(report="bad"), "dead_letter"),
     (client_error("ThrottlingException"), "retry"),
     (EndpointConnectionError(endpoint_url="http://x"), "retry"), (OSError("x"), "retry"),
     (ValueError("bug"), None)],
)  # fmt: skip
def test_dynamodb_reads_only_a_malformed_item_as_permanent(
    error: BaseException, expected: WriteErrorOutcome | None
) -> None:
    assert dynamodb_outcome(error) == expected
