"""How a transaction's items are settled from DynamoDB's answers (a scripted endpoint)."""

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from connectors.dynamodb.client import is_permanent
from connectors.dynamodb.store import WriteRequest
from connectors.dynamodb.transact import transact

Answer = Callable[[list[str]], None]  # raises to refuse a transaction of these item names


class ScriptedEndpoint:
    """Answers each TransactWriteItems with `answer(names of its items)`; records the calls."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.calls: list[list[str]] = []

    async def call(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        assert operation == "TransactWriteItems"
        names = [item["Put"]["Item"]["name"] for item in payload["TransactItems"]]
        self.calls.append(names)
        self.answer(names)
        return {}


def puts(*names: str) -> list[WriteRequest]:
    return [WriteRequest("Put", {"TableName": "t", "Item": {"name": name}}) for name in names]


def cancelled(*codes: str) -> ClientError:
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
        "CancellationReasons": [{"Code": code} for code in codes],
    }
    return ClientError(response, "TransactWriteItems")


def refused(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "TransactWriteItems")


def run(answer: Answer, *names: str) -> tuple[list[Any], list[list[str]]]:
    endpoint = ScriptedEndpoint(answer)
    return asyncio.run(transact(endpoint.call, puts(*names))), endpoint.calls


def test_stale_items_are_dropped_and_the_rest_submitted_again_at_once() -> None:
    def answer(names: list[str]) -> None:
        if "b" in names:
            raise cancelled(*("ConditionalCheckFailed" if n == "b" else "None" for n in names))

    results, calls = run(answer, "a", "b", "c")
    assert results == [True, False, True]
    assert calls == [["a", "b", "c"], ["a", "c"]]


def test_a_conflict_leaves_every_unsettled_item_to_the_backoff() -> None:
    def answer(names: list[str]) -> None:
        raise cancelled("None", "ConditionalCheckFailed", "TransactionConflict")

    results, calls = run(answer, "a", "b", "c")
    assert results[1] is False
    assert all(isinstance(r, ClientError) and not is_permanent(r) for r in (results[0], results[2]))
    assert len(calls) == 1


def test_an_item_invalid_in_the_cancellation_is_rejected_alone() -> None:
    def answer(names: list[str]) -> None:
        if "b" in names:
            raise cancelled(*("ValidationError" if n == "b" else "None" for n in names))

    results, _ = run(answer, "a", "b", "c")
    assert results[0] is True and results[2] is True
    assert is_permanent(results[1])


def test_a_request_refused_whole_as_invalid_is_split_until_the_culprit_stands_alone() -> None:
    def answer(names: list[str]) -> None:
        if "e" in names:
            raise refused("ValidationException")

    results, _ = run(answer, *"abcdefg")
    assert [r is True for r in results] == [n != "e" for n in "abcdefg"]
    assert is_permanent(results[4])


def test_throttling_and_missing_reasons_are_transient() -> None:
    for error in (refused("ThrottlingException"), cancelled()):

        def answer(names: list[str], error: ClientError = error) -> None:
            raise error

        results, calls = run(answer, "a", "b")
        assert results == [error, error] and not is_permanent(error)
        assert len(calls) == 1
