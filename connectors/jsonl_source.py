"""Snapshot source: a JSON Lines file of items, `{"table": ..., "key": {...}, "data": {...}}`.

The cursor is the byte offset after the last line of a chunk, so a resumed run starts exactly
where the last checkpoint was taken.
"""

import asyncio
import codecs
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from connectors.source import WHOLE, Chunk, Part, SourceItem, SourceProblem
from streams import numbers

DONE = "done"


class JsonLinesSource:
    name = "jsonl"

    def __init__(self, path: Path, chunk_items: int = 5000, part: Part = WHOLE) -> None:
        self.path = path
        self.chunk_items = chunk_items
        self.part = part  # lines whose byte offset hashes to this part

    async def chunks(self, cursor: str | None) -> AsyncIterator[Chunk]:
        if cursor == DONE:
            return
        with self.path.open("rb") as file:
            file.seek(int(cursor or 0))
            while True:
                chunk = await asyncio.to_thread(self._read_chunk, file)
                yield chunk
                if chunk.cursor == DONE:
                    return

    def _read_chunk(self, file: IO[bytes]) -> Chunk:
        chunk = Chunk()
        for _ in range(self.chunk_items):
            start = file.tell()
            line = file.readline()
            if not line:
                chunk.cursor = DONE
                return chunk
            if start == 0:
                line = line.removeprefix(codecs.BOM_UTF8)  # an editor's mark, not data
            if line.strip() and self.part.owns(b"%d" % start):
                _parse_line(chunk, line, f"{self.path}@{start}")
        chunk.cursor = str(file.tell())
        return chunk

    async def estimate(self) -> int | None:
        return None

    async def close(self) -> None:
        return None


def _parse_line(chunk: Chunk, line: bytes, where: str) -> None:
    try:
        raw = numbers.loads(line)  # exact numbers (the number rule)
        item = SourceItem(raw["table"], dict(raw["key"]), dict(raw.get("data") or {}))
    except (ValueError, KeyError, TypeError) as exc:
        chunk.problems.append(SourceProblem(where, f"not an item line: {exc!r}"))
    else:
        chunk.items.append(item)
