"""DynamoDB store: conditional puts, so a write lands only over an older version.

Items carry the key and data attributes at top level; bookkeeping attributes start with `_`:
`_v` the version token, `_deleted` on tombstones, `_expires_at` (epoch seconds) for DynamoDB's
TTL on tombstones and on the live items of a table that declares an expiry (their instant, in
`_live_until`, plus the tombstone grace period). Tombstones lack the
index attribute, so the sparse local secondary index that lists a partition never shows them.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from connectors.dynamodb_attributes import as_item, attribute
from connectors.dynamodb_client import error_code, write_error_kind
from connectors.dynamodb_items import (
    DELETED_ATTR,
    EXPIRES_ATTR,
    VERSION_ATTR,
    expiry_attributes,
    past_expiry,
    uncarried,
)
from connectors.dynamodb_transact import write_transactions
from connectors.sink import Batch, Item, StoredItem, Strays, WriteOutcome, listing_order
from streams.model.events import ChangeEvent, ItemId
from streams.model.tables import TableSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NEWER_ONLY = "attribute_not_exists(#v) OR #v < :v"
ABSENT_ONLY = "attribute_not_exists(#pk)"  # a snapshot's lowest version fills, never changes
BATCH_GET_LIMIT = 100


class DynamoDBStore:
    name = "dynamodb"

    def __init__(
        self,
        client: "DynamoDBClient",
        tables: Mapping[str, TableSpec],
        concurrency: int = 16,
        tombstone_grace_seconds: int = 7 * 24 * 3600,
        write_mode: str = "put",
    ) -> None:
        self.client = client
        self.tables = tables
        self.tombstone_grace = tombstone_grace_seconds
        self.write_mode = write_mode  # "put" or "transact" (connectors/dynamodb_transact.py)
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="dynamodb")

    async def write(self, batch: Batch) -> WriteOutcome:
        events = list(batch.values())
        if self.write_mode == "transact":
            results = await write_transactions(self.client, self._pool, events, self._request)
        else:
            loop = asyncio.get_running_loop()
            futures = [loop.run_in_executor(self._pool, self._put, e) for e in events]
            results = await asyncio.gather(*futures, return_exceptions=True)
        outcome = WriteOutcome()
        for (item, event), result in zip(batch.items(), results, strict=True):
            outcome.count(item, event, result, self.name, write_error_kind)
        return outcome

    def _request(self, event: ChangeEvent) -> dict[str, Any]:
        """The conditional Put of `event`: PutItem's arguments, or a transaction's Put."""
        spec = self.tables[event.table]
        request: dict[str, Any] = {
            "TableName": spec.physical_name(event.table),
            "Item": self._item(event),
            "ConditionExpression": NEWER_ONLY,
            "ExpressionAttributeNames": {"#v": VERSION_ATTR},
            "ExpressionAttributeValues": {":v": {"S": event.version.token()}},
        }
        if event.version.fills_only:
            request["ConditionExpression"] = ABSENT_ONLY
            request["ExpressionAttributeNames"] = {"#pk": spec.partition_key}
            del request["ExpressionAttributeValues"]
        return request

    def _put(self, event: ChangeEvent) -> bool:
        """True when written, False when the stored version was the same or newer."""
        try:
            self.client.put_item(**self._request(event))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _item(self, event: ChangeEvent) -> dict[str, Any]:
        item: dict[str, Any] = {name: {"S": value} for name, value in event.key.items()}
        item[VERSION_ATTR] = {"S": event.version.token()}
        if event.op == "delete":
            item[DELETED_ATTR] = {"BOOL": True}
            item[EXPIRES_ATTR] = {"N": str(int(time.time()) + self.tombstone_grace)}
        else:
            for name, value in (event.data or {}).items():
                item[name] = attribute(value)
            spec = self.tables[event.table]
            item |= expiry_attributes(spec.expiry, event, self.tombstone_grace)
        return item

    async def get(self, table: str, key: Mapping[str, str]) -> Item | None:
        spec = self.tables[table]
        response = await asyncio.get_running_loop().run_in_executor(
            self._pool,
            lambda: self.client.get_item(
                TableName=spec.physical_name(table),
                Key={name: {"S": key[name]} for name in spec.key_attributes},
                ConsistentRead=True,
            ),
        )
        raw = response.get("Item")
        if raw is None or DELETED_ATTR in raw or past_expiry(raw):
            return None
        return as_item(raw)

    async def list_partition(self, table: str, partition: str, limit: int) -> list[Item]:
        spec = self.tables[table]
        index = spec.lsi_name()
        if index is None:
            raise ValueError(f"table {table!r} declares no index attribute to list by")
        query = {
            "TableName": spec.physical_name(table),
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": spec.partition_key},
            "ExpressionAttributeValues": {":pk": {"S": partition}},
        }
        loop = asyncio.get_running_loop()
        raws = await loop.run_in_executor(
            self._pool, self._query_all, {**query, "ScanIndexForward": False, "Limit": limit}
        )
        if len(raws) == limit:  # ties with the last one, past the limit, may come first
            ties = _with_index_equal(query, spec.index_attribute or "", raws[-1])
            raws += await loop.run_in_executor(self._pool, self._query_all, ties)
        live = [raw for raw in raws if not past_expiry(raw)]
        unique = {tuple(raw[k]["S"] for k in spec.key_attributes): raw for raw in live}
        return listing_order([as_item(raw) for raw in unique.values()], spec, limit)

    def _query_all(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Every page of a query, or only the first `Limit` items when it sets one (reading on
        past items that have expired but that TTL has not deleted yet)."""
        items: list[dict[str, Any]] = []
        while True:
            response = self.client.query(**request)
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
        items = list(dict.fromkeys(items))  # BatchGetItem refuses a key named twice
        found: dict[ItemId, StoredItem] = {}
        for start in range(0, len(items), BATCH_GET_LIMIT):
            part = items[start : start + BATCH_GET_LIMIT]
            raws = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._batch_get, table, part
            )
            found.update(self._stored(table, raw) for raw in raws)
        return found

    def _batch_get(self, table: str, items: Sequence[ItemId]) -> list[dict[str, Any]]:
        spec = self.tables[table]
        name = spec.physical_name(table)
        request: dict[str, Any] = {
            name: {"Keys": [self._key(spec, item) for item in items], "ConsistentRead": True}
        }
        out: list[dict[str, Any]] = []
        while request:
            response = self.client.batch_get_item(RequestItems=request)
            out.extend(response["Responses"].get(name, []))
            request = dict(response.get("UnprocessedKeys") or {})
        return out

    async def item_pages(
        self, table: str, page_size: int = 1000, strays: Strays | None = None
    ) -> AsyncIterator[list[tuple[ItemId, StoredItem]]]:
        """Every item of a table (tombstones included), a consistent Scan page at a time."""
        name = self.tables[table].physical_name(table)
        request: dict[str, Any] = {"TableName": name, "Limit": page_size, "ConsistentRead": True}
        loop = asyncio.get_running_loop()
        while True:
            response = await loop.run_in_executor(self._pool, lambda: self.client.scan(**request))
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
        await asyncio.get_running_loop().run_in_executor(
            self._pool, lambda: self.client.describe_table(TableName=spec.physical_name(name))
        )

    async def close(self) -> None:
        # Don't wait for a call stuck on an unresponsive endpoint: closing the client ends it,
        # and its result no longer matters (the batch was not acked).
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()


def _with_index_equal(query: dict[str, Any], index: str, last: Mapping[str, Any]) -> dict[str, Any]:
    """The same query, narrowed to the items whose index attribute equals `last`'s."""
    return {
        **query,
        "KeyConditionExpression": "#pk = :pk AND #ix = :ix",
        "ExpressionAttributeNames": {**query["ExpressionAttributeNames"], "#ix": index},
        "ExpressionAttributeValues": {**query["ExpressionAttributeValues"], ":ix": last[index]},
    }
