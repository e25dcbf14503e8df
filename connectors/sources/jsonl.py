"""Snapshot source: a JSON Lines file of items, `{"table": ..., "key": {...}, "data": {...}}`.

The cursor is the byte offset after the last line of a chunk, so a resumed run starts exactly
where the last checkpoint was taken.
"""

import asyncio
import codecs
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from connectors.sources.snapshot_source import WHOLE, Chunk, Part, SourceItem, SourceProblem
from streams.model import numbers

DONE = "done"


class JsonLinesSource:
    name = "jsonl"

    def __init__(self, path: Path, chunk_items: int = 5000, part: Part = WHOLE) -> None:
        self.path = path
        self.chunk_items = chunk_items
        self.part = part  # lines whose byte offset hashes to this part
        self._line: int | None = None  # the next line's number, when read from the start

    async def chunks(self, cursor: str | None) -> AsyncIterator[Chunk]:
        if cursor == DONE:
            return
        with self.path.open("rb") as file:
            file.seek(int(cursor or 0))
            self._line = 1 if file.tell() == 0 else None  # resumed: only byte offsets known
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
                _parse_line(chunk, line, self._where(start))
            self._line = self._line and self._line + 1
        chunk.cursor = str(file.tell())
        return chunk

    def _where(self, start: int) -> str:
        """The line's number (path:N), or its byte offset (path@N) in a resumed run."""
        return f"{self.path}:{self._line}" if self._line else f"{self.path}@{start}"

    async def estimate(self) -> int | None:
        return None

    async def close(self) -> None:
        return None


def _parse_line(chunk: Chunk, line: bytes, where: str) -> None:
    try:
        raw = numbers.loads(line)  # exact numbers (the number rule)
        item = SourceItem(raw["table"], dict(raw["key"]), dict(raw.get("data") or {}), where=where)
    except (ValueError, KeyError, TypeError) as exc:
        chunk.problems.append(SourceProblem(where, f"not an item line: {exc!r}"))
    else:
        chunk.items.append(item)
