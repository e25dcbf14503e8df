"""Read change events from JSON Lines, reporting each bad line by number."""

import codecs
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from streams.model.errors import InvalidEventError
from streams.model.events import ChangeEvent, decode_event
from streams.model.tables import TableSpec


@dataclass
class ParsedLines:
    events: list[ChangeEvent] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)


def parse_lines(lines: Iterable[bytes], tables: Mapping[str, TableSpec]) -> ParsedLines:
    parsed = ParsedLines()
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = line.removeprefix(codecs.BOM_UTF8)  # noqa: PLW2901 -- an editor's mark
        if not line.strip():
            continue
        try:
            parsed.events.append(decode_event(line, dict(tables)))
        except InvalidEventError as exc:
            parsed.errors.append((number, f"{exc.reason}: {exc}"))
    return parsed
