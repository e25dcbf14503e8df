"""Snapshot source: an existing DynamoDB table, read with a parallel Scan.

Each segment is scanned in its own thread, one page per round; the cursor records every
segment's LastEvaluatedKey, so a resumed run continues each segment where it stopped. Items
this replicator wrote keep their version (`_v`), tombstones included, so re-applying them
anywhere is a no-op or the exact write that was missing. Other items get the snapshot's lowest
version, which only fills a store that lacks the item: the table read is never rewritten.
Items an event cannot carry unaltered (connectors/dynamodb/items.py) are reported, not copied.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from connectors.dynamodb.attributes import as_item
from connectors.dynamodb.items import (
    DELETED_ATTR,
    past_expiry,
    uncarried,
    version_of,
)
from connectors.sources.snapshot_source import WHOLE, Chunk, Part, SourceItem, SourceProblem
from streams.model.tables import TableSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DONE = "done"


class DynamoDBSource:
    name = "dynamodb"

    def __init__(
        self,
        client: "DynamoDBClient",
        table: str,
        spec: TableSpec,
        *,
        segments: int = 4,
        page_items: int = 1000,
        part: Part = WHOLE,
    ) -> None:
        self.client = client
        self.table = table
        self.spec = spec
        self.segments = segments
        self.page_items = page_items
        # The table is scanned in segments * part.count segments; this part takes its own run.
        self.total_segments = segments * part.count
        self.own_segments = range(part.index * segments, (part.index + 1) * segments)
        self._pool = ThreadPoolExecutor(segments, thread_name_prefix="scan")

    async def chunks(self, cursor: str | None) -> AsyncIterator[Chunk]:
        state: dict[str, Any] = (
            json.loads(cursor) if cursor else {str(s): None for s in self.own_segments}
        )
        loop = asyncio.get_running_loop()
        while any(position != DONE for position in state.values()):
            live = [s for s, position in state.items() if position != DONE]
            pages = await asyncio.gather(
                *(loop.run_in_executor(self._pool, self._scan, int(s), state[s]) for s in live)
            )
            chunk = Chunk()
            for segment, page in zip(live, pages, strict=True):
                for raw in page.get("Items", []):
                    self._convert(chunk, raw)
                state[segment] = page.get("LastEvaluatedKey") or DONE
            chunk.cursor = json.dumps(state)
            yield chunk

    def _scan(self, segment: int, start: Mapping[str, Any] | None) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": self.physical_table,
            "Segment": segment,
            "TotalSegments": self.total_segments,
            "Limit": self.page_items,
            "ConsistentRead": True,
        }
        if start:
            request["ExclusiveStartKey"] = start
        return dict(self.client.scan(**request))

    @property
    def physical_table(self) -> str:
        return self.spec.physical_name(self.table)

    def _convert(self, chunk: Chunk, raw: Mapping[str, Any]) -> None:
        try:
            key = {name: raw[name]["S"] for name in self.spec.key_attributes}
        except KeyError as exc:
            chunk.problems.append(
                SourceProblem(json.dumps(raw, default=str)[:200], f"no key {exc}")
            )
            return
        cannot = uncarried(raw)  # sets, binary, `_` names, a `_v` that is no version
        if cannot:
            chunk.problems.append(SourceProblem(json.dumps(key, ensure_ascii=False), cannot))
            return
        data = {name: value for name, value in as_item(raw).items() if name not in key}
        # An item past its expiry is gone, as a tombstone is: never published for a new lifetime.
        deleted = DELETED_ATTR in raw or past_expiry(raw)
        chunk.items.append(SourceItem(self.table, key, data, version_of(raw), deleted=deleted))

    async def estimate(self) -> int | None:
        described = await asyncio.to_thread(
            self.client.describe_table, TableName=self.physical_table
        )
        return int(described["Table"].get("ItemCount", 0)) or None

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
