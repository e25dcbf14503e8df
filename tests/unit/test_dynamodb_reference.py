"""The DynamoDB store against a stand-in endpoint, where AWS's API reference says what DynamoDB
does and the emulators differ or cannot show it (always consistent, never throttled)."""

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError

from connectors.dynamodb.client import error_code, is_access_refused, make_api
from connectors.dynamodb.store import DynamoDBStore
from connectors.dynamodb.transact import TRANSACT_BYTES
from streams.model.errors import AccessRefusedError
from streams.model.events import ItemId
from streams.model.tables import DEFAULT_TABLES
from tests.support import upsert
from tests.support.dynamodb_standin import StandIn, error, stand_in

T = TypeVar("T")


def with_store(endpoint: StandIn, use: Callable[[DynamoDBStore], Awaitable[T]], **kw: Any) -> T:
    async def run() -> T:
        store = DynamoDBStore(make_api(endpoint.url, "us-east-1", None, 4), DEFAULT_TABLES, **kw)
        try:
            return await use(store)
        finally:
            await store.close()

    return asyncio.run(run())


def item(owner: str, opponent: str, ts: int) -> dict[str, Any]:
    return {"owner_id": {"S": owner}, "opponent_id": {"S": opponent}, "timestamp": {"N": str(ts)},
            "_v": {"S": f"{ts:016d} svc e{ts}"}}  # fmt: skip


def test_listing_reads_the_local_index_consistently() -> None:
    """A local secondary index may be read with ConsistentRead; without it, a `list` right
    after a write may miss it on DynamoDB."""

    def answer(operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"Items": [item("user:7", "user:8", 5)], "Count": 1}

    with stand_in(answer) as endpoint:
        listed = with_store(endpoint, lambda s: s.list_partition("opponents", "user:7", 10))
    assert [i["opponent_id"] for i in listed] == ["user:8"]
    assert [q.body.get("ConsistentRead") for q in endpoint.of("Query")] == [True]


def test_unprocessed_keys_are_asked_again_after_a_pause() -> None:
    """BatchGetItem may leave keys unprocessed when throttled; AWS asks for a backoff before
    asking again."""
    calls = 0

    def answer(operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        nonlocal calls
        calls += 1
        requested = body["RequestItems"]
        if calls < 3:  # throttled twice: everything unprocessed
            return 200, {"Responses": {}, "UnprocessedKeys": requested}
        (table, wanted), *_ = requested.items()
        found = [{**key, "_v": {"S": "0000000000000001 svc e"}} for key in wanted["Keys"]]
        return 200, {"Responses": {table: found}, "UnprocessedKeys": {}}

    ids = [ItemId("opponents", "user:7", f"user:{n}") for n in range(3)]
    with stand_in(answer) as endpoint:
        got = with_store(endpoint, lambda s: s.read_many("opponents", ids))
    assert set(got) == set(ids)
    asked = [r.at for r in endpoint.of("BatchGetItem")]
    pauses = [later - earlier for earlier, later in itertools.pairwise(asked)]
    assert len(pauses) == 2 and pauses[0] >= 0.02 and pauses[1] >= 0.045  # and growing


def test_transactions_keep_to_4_mb_and_100_items() -> None:
    """100 items of ~390 KB: AWS refuses a transaction whose items add up to more than 4 MB
    (moto takes 40 MB). Each transaction sent is within both limits, and nothing is refused."""

    def answer(operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        items = body["TransactItems"]
        text = sum(len(v["S"]) for i in items for v in i["Put"]["Item"].values() if "S" in v)
        if len(items) > 100 or text > TRANSACT_BYTES:
            return error("ValidationException", "Transaction request cannot exceed 4 MB")
        return 200, {}

    events = [upsert("user:7", f"user:{n}", 1, blob="x" * 390_000) for n in range(100)]
    batch = {e.item_id(DEFAULT_TABLES["opponents"]): e for e in events}
    with stand_in(answer) as endpoint:
        outcome = with_store(endpoint, lambda s: s.write(batch), write_mode="transact")
    assert (outcome.applied, outcome.rejected, outcome.retry) == (100, [], {})
    sent = endpoint.of("TransactWriteItems")
    assert len(sent) == 10  # 10 items of 390 KB (and their names) per 4 MB
    assert sum(len(r.body["TransactItems"]) for r in sent) == 100


def test_an_endpoint_without_transactions_is_a_refusal() -> None:
    """UnknownOperationException (an emulator without TransactWriteItems) is not transient:
    the worker stops with one line instead of retrying for ever."""

    def answer(operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return error("UnknownOperationException")

    event = upsert("user:7", "user:8", 1)
    batch = {event.item_id(DEFAULT_TABLES["opponents"]): event}
    with stand_in(answer) as endpoint, pytest.raises(AccessRefusedError) as refused:
        with_store(endpoint, lambda s: s.write(batch), write_mode="transact")
    assert "has no TransactWriteItems" in str(refused.value)
    assert "CDC_DYNAMODB_WRITE_MODE=put" in str(refused.value)
    assert len(endpoint.received) == 1  # not retried


def test_a_refusal_answered_in_xml_is_read_for_its_code() -> None:
    """IAM's refusals come as XML (moto with authentication on): the code and message are read
    from it, and the refusal stops the worker like any other."""
    xml = (b'<?xml version="1.0" encoding="utf-8"?><ErrorResponse><Errors><Error><Code>'
           b"InvalidClientTokenId</Code><Message>The security token included in the request "
           b"is invalid.</Message></Error></Errors></ErrorResponse>")  # fmt: skip

    def answer(operation: str, body: dict[str, Any]) -> tuple[int, bytes]:
        return 403, xml

    with stand_in(answer) as endpoint, pytest.raises(ClientError) as refused:
        with_store(endpoint, lambda s: s.get("opponents", {"owner_id": "a", "opponent_id": "b"}))
    assert error_code(refused.value) == "InvalidClientTokenId"
    assert "security token included in the request is invalid" in str(refused.value)
    assert is_access_refused(refused.value)
