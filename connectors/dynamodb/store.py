"""DynamoDB store: conditional puts, so a write lands only over an older version.

Items carry the key and data attributes at top level; bookkeeping attributes start with one `_`
(a data attribute starting with `_` is stored with two): `_v` the version token, `_deleted` on
tombstones, `_expires_at` (epoch seconds) for DynamoDB's TTL on tombstones and on the live items
of a table that declares an expiry (their instant, in `_live_until`, plus the tombstone grace
period). Tombstones lack the index attribute, so the sparse local secondary index that lists a
partition never shows them. An item DynamoDB cannot hold (connectors/dynamodb/limits.py) is
rejected here, for DynamoDB alone. A partial upsert, and a write a Debezium table's item
holding older values (`_o`) refused, are merged with the item (connectors/dynamodb/merge.py).
"""

import asyncio
import random
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from connectors.dynamodb.api import DynamoDBApi
from connectors.dynamodb.attributes import as_item, attribute, stored_name
from connectors.dynamodb.client import error_code, write_error_outcome
from connectors.dynamodb.items import (
    DELETED_ATTR,
    EXPIRES_ATTR,
    OLDER_ATTR,
    VERSION_ATTR,
    expiry_attributes,
    past_expiry,
    uncarried,
)
from connectors.dynamodb.limits import (
    CannotHoldError,
    checked_size,
    key_problem,
    partition_problem,
)
from connectors.dynamodb.merge import Merges
from connectors.dynamodb.transact import write_transactions
from connectors.store import Batch, Item, StoredItem, Strays, WriteOutcome, listing_order
from streams.model.events import ChangeEvent, ItemId
from streams.model.tables import TableSpec

NEWER_ONLY = "attribute_not_exists(#v) OR #v < :v"
ABSENT_ONLY = "attribute_not_exists(#pk)"  # a snapshot's lowest version fills, never changes
BATCH_GET_LIMIT = 100
UNPROCESSED_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)  # then 1.6 s each time
MERGE = "merge"  # a refused write that the item's older values may still take
Write = tuple[ItemId, ChangeEvent]


class WriteRequest(NamedTuple):
    """One version-guarded write: `kind` names the operation (`Put`: PutItem, or a
    transaction's Put; an `Update` would take the same path as UpdateItem or a transaction's
    Update), `body` its arguments, `size` the item's bytes by DynamoDB's rule (what a
    transaction's 4 MB counts)."""

    kind: str
    body: dict[str, Any]
    size: int = 0


class DynamoDBStore:
    name = "dynamodb"
    # The batch coalesced whole: each write costs a write unit and milliseconds, so every
    # duplicate coalesced away counts (its drain halved in parts).
    part_records = 0

    def __init__(
        self,
        api: DynamoDBApi,
        tables: Mapping[str, TableSpec],
        concurrency: int = 16,
        tombstone_grace_seconds: int = 7 * 24 * 3600,
        write_mode: str = "put",
    ) -> None:
        self.api = api
        self.tables = tables
        self.tombstone_grace = tombstone_grace_seconds
        self.write_mode = write_mode  # "put" or "transact" (connectors/dynamodb/transact.py)
        self._in_flight = asyncio.Semaphore(concurrency)
        self._merges = Merges(self._call, tables, self._item)

    async def write(self, batch: Batch) -> WriteOutcome:
        """Each item DynamoDB can hold written (see connectors/dynamodb/limits.py); the others
        rejected, for DynamoDB alone, before any request."""
        outcome = WriteOutcome()
        held: list[Write] = []
        merged: list[Write] = []
        requests: list[WriteRequest] = []
        for item, event in batch.items():
            if event.unchanged is not None:
                merged.append((item, event))
                continue
            try:
                requests.append(self._request(event))
            except CannotHoldError as exc:
                outcome.rejected.append((event, f"{self.name}: {exc}"))
            else:
                held.append((item, event))
        results: Sequence[bool | str | BaseException]
        if self.write_mode == "transact":
            results = await write_transactions(self._call, requests)
        else:
            writes = (self._write(request) for request in requests)
            results = await asyncio.gather(*writes, return_exceptions=True)
        for (item, event), result in zip(held, results, strict=True):
            if result == MERGE or (result is False and self._older_kept(item, "transact")):
                merged.append((item, event))
            elif not isinstance(result, str):
                outcome.count(item, event, result, self.name, write_error_outcome)
        if merged:
            await self._merges.write_all(merged, outcome)
        return outcome

    def _older_kept(self, item: ItemId, mode: str) -> bool:
        """Whether, in `mode`, a refused write of `item` may hold values older than it."""
        return self.write_mode == mode and self.tables[item.table].format == "debezium"

    def cannot_hold(self, event: ChangeEvent) -> str | None:
        try:
            self._request(event)
        except CannotHoldError as exc:
            return str(exc)
        return None

    async def _call(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        async with self._in_flight:
            return await self.api.call(operation, payload)

    def _request(self, event: ChangeEvent) -> WriteRequest:
        """The conditional Put of `event`; CannotHoldError if DynamoDB cannot hold its item."""
        spec = self.tables[event.table]
        version = {"S": event.version.token()}
        body: dict[str, Any] = {
            "TableName": spec.physical_name(event.table),
            "Item": self._item(event, version),
            "ConditionExpression": NEWER_ONLY,
            "ExpressionAttributeNames": {"#v": VERSION_ATTR},
            "ExpressionAttributeValues": {":v": version},
        }
        if event.version.fills_only:
            body["ConditionExpression"] = ABSENT_ONLY
            body["ExpressionAttributeNames"] = {"#pk": spec.partition_key}
            del body["ExpressionAttributeValues"]
        if spec.format == "debezium" and self.write_mode == "put":
            body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"  # does it hold `_o`?
        return WriteRequest("Put", body, checked_size(body["Item"], spec))

    async def _write(self, request: WriteRequest) -> bool | str:
        """True when written, False when the stored version was the same or newer, MERGE when
        the item that refused it may hold values older than it."""
        try:
            await self._call(f"{request.kind}Item", request.body)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                asked = "ReturnValuesOnConditionCheckFailure" in request.body
                refusing: Any = exc.response.get("Item")
                return MERGE if asked and (refusing is None or OLDER_ATTR in refusing) else False
            raise
        return True

    def _item(self, event: ChangeEvent, version: dict[str, str]) -> dict[str, Any]:
        item: dict[str, Any] = {name: {"S": value} for name, value in event.key.items()}
        item[VERSION_ATTR] = version
        if event.op == "delete":
            item[DELETED_ATTR] = {"BOOL": True}
            item[EXPIRES_ATTR] = {"N": str(int(time.time()) + self.tombstone_grace)}
        else:
            for name, value in (event.data or {}).items():
                item[stored_name(name)] = attribute(value)
            spec = self.tables[event.table]
            item |= expiry_attributes(spec.expiry, event, self.tombstone_grace)
        return item

    async def get(self, table: str, key: Mapping[str, str]) -> Item | None:
        spec = self.tables[table]
        if key_problem(key, spec):
            return None  # an item DynamoDB cannot hold: not there
        request = {
            "TableName": spec.physical_name(table),
            "Key": {name: {"S": key[name]} for name in spec.key_attributes},
            "ConsistentRead": True,
        }
        raw = (await self._call("GetItem", request)).get("Item")
        if raw is None or DELETED_ATTR in raw or past_expiry(raw):
            return None
        return as_item(raw)

    async def list_partition(self, table: str, partition: str, limit: int) -> list[Item]:
        spec = self.tables[table]
        index = spec.lsi_name()
        if index is None:
            raise ValueError(f"table {table!r} declares no index attribute to list by")
        if partition_problem(partition, spec):
            return []  # a partition DynamoDB cannot hold: empty
        query = {
            "TableName": spec.physical_name(table),
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": spec.partition_key},
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "ConsistentRead": True,  # a local index reads a write just made, if asked
        }
        raws = await self._query_all({**query, "ScanIndexForward": False, "Limit": limit})
        if len(raws) == limit:  # ties with the last one, past the limit, may come first
            ties = _with_index_equal(query, spec.index_attribute or "", raws[-1])
            raws += await self._query_all(ties)
        live = [raw for raw in raws if not past_expiry(raw)]
        unique = {tuple(raw[k]["S"] for k in spec.key_attributes): raw for raw in live}
        return listing_order([as_item(raw) for raw in unique.values()], spec, limit)

    async def _query_all(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Every page of a query, or only the first `Limit` items when it sets one (reading on
        past items that have expired but that TTL has not deleted yet)."""
        items: list[dict[str, Any]] = []
        while True:
            response = await self._call("Query", request)
            items += response.get("Items", [])
            if "Limit" in request:
                items = [raw for raw in items if not past_expiry(raw)]
                if len(items) >= request["Limit"]:
                    return items[: request["Limit"]]
            if "LastEvaluatedKey" not in response:
                return items
            request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}

    async def read_many(self, table: str, items: Sequence[ItemId]) -> dict[ItemId, StoredItem]:
        """Versions and data of many items (BatchGetItem, consistent), tombstones included."""
        spec = self.tables[table]
        # BatchGetItem refuses a key named twice, or one DynamoDB cannot hold (not there).
        items = [i for i in dict.fromkeys(items) if not key_problem(i.key(spec), spec)]
        found: dict[ItemId, StoredItem] = {}
        for start in range(0, len(items), BATCH_GET_LIMIT):
            raws = await self._batch_get(table, items[start : start + BATCH_GET_LIMIT])
            found.update(self._stored(table, raw) for raw in raws)
        return found

    async def _batch_get(self, table: str, items: Sequence[ItemId]) -> list[dict[str, Any]]:
        """The items found; keys DynamoDB left unprocessed (throttled) are asked again after a
        growing pause, as AWS asks."""
        spec = self.tables[table]
        name = spec.physical_name(table)
        request: dict[str, Any] = {
            name: {"Keys": [self._key(spec, item) for item in items], "ConsistentRead": True}
        }
        out: list[dict[str, Any]] = []
        pauses = iter(UNPROCESSED_PAUSES)
        while True:
            response = await self._call("BatchGetItem", {"RequestItems": request})
            out.extend(response.get("Responses", {}).get(name, []))
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                return out
            jitter = random.uniform(0.5, 1)  # noqa: S311 -- spreads retries, not crypto
            await asyncio.sleep(jitter * next(pauses, UNPROCESSED_PAUSES[-1]))

    async def item_pages(
        self, table: str, page_size: int = 1000, strays: Strays | None = None
    ) -> AsyncIterator[list[tuple[ItemId, StoredItem]]]:
        """Every item of a table (tombstones included), a consistent Scan page at a time."""
        name = self.tables[table].physical_name(table)
        request: dict[str, Any] = {"TableName": name, "Limit": page_size, "ConsistentRead": True}
        while True:
            response = await self._call("Scan", request)
            yield [self._stored(table, raw) for raw in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _stored(self, table: str, raw: Mapping[str, Any]) -> tuple[ItemId, StoredItem]:
        spec = self.tables[table]
        item_id = ItemId.of(table, {name: raw[name]["S"] for name in spec.key_attributes}, spec)
        data, expired = None, past_expiry(raw)
        if DELETED_ATTR not in raw and not expired:
            data = {k: v for k, v in as_item(raw).items() if k not in spec.key_attributes}
        # An item written before the replicator has no version: "" sorts before every token.
        version = raw.get(VERSION_ATTR, {}).get("S", "")
        return item_id, StoredItem(version, data, problem=uncarried(raw), expired=expired)

    @staticmethod
    def _key(spec: TableSpec, item: ItemId) -> dict[str, Any]:
        return {name: {"S": value} for name, value in item.key(spec).items()}

    async def ping(self) -> None:
        """DescribeTable of a declared table: a cheap call that needs the endpoint, the
        credentials and a permission the worker has anyway (it checks its tables at start)."""
        name, spec = next(iter(self.tables.items()))
        await self.api.call("DescribeTable", {"TableName": spec.physical_name(name)})

    async def close(self) -> None:
        # A call stuck on an unresponsive endpoint ends with the session; its result no longer
        # matters (the batch was not acked).
        await self.api.close()


def _with_index_equal(query: dict[str, Any], index: str, last: Mapping[str, Any]) -> dict[str, Any]:
    """The same query, narrowed to the items whose index attribute equals `last`'s."""
    return {
        **query,
        "KeyConditionExpression": "#pk = :pk AND #ix = :ix",
        "ExpressionAttributeNames": {**query["ExpressionAttributeNames"], "#ix": index},
        "ExpressionAttributeValues": {**query["ExpressionAttributeValues"], ":ix": last[index]},
    }
