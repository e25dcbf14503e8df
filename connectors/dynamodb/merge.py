"""DynamoDB's partial upserts: read the item (GetItem, consistent), settle it with the write
(streams/model/partial.py), and put the result under the condition that the item is still the
one read (its `_v` and `_o`), or read again.

`_o` holds, as JSON, the version each value older than the item came from (absent: every value
is the item's own); a whole Put replaces the item and so drops it. Such an item may still take
a write older than it: a Put the version refused is merged too when the item it names holds
`_o` (the Put asks for the refused item back, `ReturnValuesOnConditionCheckFailure`; an
endpoint that does not send it back, such as dynalite, gets a read).
"""

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from connectors.dynamodb.attributes import as_item
from connectors.dynamodb.client import error_code, write_error_outcome
from connectors.dynamodb.items import DELETED_ATTR, OLDER_ATTR, VERSION_ATTR, past_expiry
from connectors.dynamodb.limits import CannotHoldError, checked_size
from connectors.store import WriteOutcome
from streams.model.events import ChangeEvent, ItemId, Version
from streams.model.partial import NOTHING, Held, held_of, settled
from streams.model.tables import TableSpec

Call = Callable[[str, Mapping[str, Any]], Awaitable[Mapping[str, Any]]]
ItemOf = Callable[[ChangeEvent, dict[str, str]], dict[str, Any]]
ATTEMPTS = 8  # reads a write may meet changed; then it is retried later, with backoff
STALE = "ConditionalCheckFailedException"


class Merges:
    """Partial upserts of one store's tables: `item_of` builds a whole item (the store's)."""

    def __init__(self, call: Call, tables: Mapping[str, TableSpec], item_of: ItemOf) -> None:
        self.call, self.tables, self.item_of = call, tables, item_of

    async def write_all(
        self, writes: Sequence[tuple[ItemId, ChangeEvent]], outcome: WriteOutcome
    ) -> None:
        """Each write merged with what its item holds, counted in `outcome`; holes noted."""
        results = await asyncio.gather(
            *(self.write(item, event) for item, event in writes), return_exceptions=True
        )
        for (item, event), result in zip(writes, results, strict=True):
            if isinstance(result, CannotHoldError):
                outcome.rejected.append((event, f"dynamodb: {result}"))
            elif isinstance(result, BaseException):
                outcome.count(item, event, result, "dynamodb", write_error_outcome)
            else:
                changed, holes = result
                if holes:
                    outcome.holes[item] = holes
                outcome.count(item, event, changed, "dynamodb", write_error_outcome)

    async def write(self, item: ItemId, event: ChangeEvent) -> tuple[bool, list[str]]:
        """Whether the item changed, and the attributes it holds no value of after it."""
        spec, write = self.tables[item.table], held_of(event)
        for attempt in range(ATTEMPTS):
            raw = await self._read(spec, item)
            after = settled(_held(raw, spec), write, event.version.fills_only)
            if after is None:
                return False, []
            try:
                await self.call("PutItem", self._put(spec, event, after, raw))
            except ClientError as exc:
                if error_code(exc) != STALE or attempt == ATTEMPTS - 1:
                    raise  # a stale guard again and again: retried with backoff
                continue
            return True, after.holes
        raise AssertionError("unreachable")  # pragma: no cover

    async def _read(self, spec: TableSpec, item: ItemId) -> dict[str, Any] | None:
        key = {name: {"S": value} for name, value in item.key(spec).items()}
        request = {"TableName": spec.physical_name(item.table), "Key": key, "ConsistentRead": True}
        found = (await self.call("GetItem", request)).get("Item")
        return dict(found) if found is not None else None

    def _put(
        self, spec: TableSpec, event: ChangeEvent, after: Held, raw: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """The Put of `after`, on the condition that the item is still `raw`."""
        version = Version.from_token(after.version)
        whole = ChangeEvent.model_construct(
            table=event.table, op="upsert", key=event.key, data=after.data, unchanged=None,
            ts=version.ts, origin=version.origin, event_id=version.event_id,
        )  # fmt: skip
        item = self.item_of(whole, {"S": after.version})
        if after.older:
            item[OLDER_ATTR] = {"S": json.dumps(after.older)}
        checked_size(item, spec)
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        if raw is None:
            names["#pk"] = spec.partition_key
            condition = "attribute_not_exists(#pk)"
        else:
            condition = " AND ".join(
                _unchanged(attr, raw.get(attr), names, values)
                for attr in (VERSION_ATTR, OLDER_ATTR)
            )
        body = {"TableName": spec.physical_name(event.table), "Item": item,
                "ConditionExpression": condition, "ExpressionAttributeNames": names}  # fmt: skip
        if values:
            body["ExpressionAttributeValues"] = values
        return body


def _unchanged(
    attr: str, held: Mapping[str, Any] | None, names: dict[str, str], values: dict[str, Any]
) -> str:
    alias = f"#a{len(names)}"
    names[alias] = attr
    if held is None:
        return f"attribute_not_exists({alias})"
    values[f":a{len(values)}"] = held
    return f"{alias} = :a{len(values) - 1}"


def _held(raw: Mapping[str, Any] | None, spec: TableSpec) -> Held:
    """The item as the registers see it; one past its expiry is gone, like a deleted one."""
    if raw is None:
        return NOTHING
    version = raw.get(VERSION_ATTR, {}).get("S", "")
    if DELETED_ATTR in raw or past_expiry(raw):
        return Held(version, None)
    data = {k: v for k, v in as_item(raw).items() if k not in spec.key_attributes}
    older = json.loads(raw[OLDER_ATTR]["S"]) if OLDER_ATTR in raw else {}
    return Held(version, data, older)
