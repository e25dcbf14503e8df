"""Which Kafka Connect connector feeds each declared Debezium table, whether it runs, and the
placeholder it sends for a value it did not read (`unavailable.value.placeholder`).

A connector feeds the source `<prefix>.<schema>.<table>` when its `topic.prefix` is `prefix`
and its filters select the table as Debezium's do: `schema.include.list` (else
`schema.exclude.list`) on the schema, `table.include.list` (else `table.exclude.list`) on
`<schema>.<table>`, each a comma-separated list of regular expressions matched whole,
ignoring case.
"""

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streams.kafka.connect_rest import (
    RUNNING,
    ConnectAnswerError,
    ConnectClient,
    Connector,
    ConnectUnreachableError,
)
from streams.model.tables import TableSpec
from streams.settings_parts import DebeziumSettings

MISSING = "MISSING"  # no connector feeds the source
UNREACHABLE = "UNREACHABLE"  # Connect did not answer: nobody can tell
PLACEHOLDER_SETTING = "unavailable.value.placeholder"  # what Debezium sends for a TOASTed value
# Connect's states, then ours: every state a source can be reported in.
STATES = ("RUNNING", "PAUSED", "STOPPED", "FAILED", "UNASSIGNED", "RESTARTING", MISSING,
          UNREACHABLE)  # fmt: skip


@dataclass(frozen=True)
class SourceState:
    """A declared Debezium source and the connector behind it, if any."""

    source: str  # <topic.prefix>.<schema>.<table>
    tables: tuple[str, ...]  # the declared tables reading it
    state: str  # one of STATES
    detail: str  # one line: which connector and what it does, or why none
    connector: str | None = None

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    def describe(self) -> str:
        names = ", ".join(self.tables)
        return f"source {self.source} (table {names}): {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "tables": list(self.tables), "state": self.state,
                "connector": self.connector, "detail": self.detail}  # fmt: skip


def debezium_sources(tables: Mapping[str, TableSpec]) -> dict[str, tuple[str, ...]]:
    """Each Debezium source the declarations name, with the tables reading it."""
    sources: dict[str, tuple[str, ...]] = {}
    for name, spec in tables.items():
        if spec.format == "debezium" and spec.source:
            sources[spec.source] = (*sources.get(spec.source, ()), name)
    return dict(sorted(sources.items()))


def feeds(config: Mapping[str, str], source: str) -> bool:
    prefix, schema, table = source.split(".")
    if config.get("topic.prefix", config.get("database.server.name")) != prefix:
        return False
    return _selected(config, "schema", schema) and _selected(config, "table", f"{schema}.{table}")


def _selected(config: Mapping[str, str], kind: str, name: str) -> bool:
    include, exclude = config.get(f"{kind}.include.list"), config.get(f"{kind}.exclude.list")
    if include:
        return matches_any(include, name)
    return not (exclude and matches_any(exclude, name))


def matches_any(patterns: str, name: str) -> bool:
    """Whether one of the comma-separated regular expressions matches `name` whole."""
    for pattern in (p.strip() for p in patterns.split(",")):
        try:
            if pattern and re.fullmatch(pattern, name, re.IGNORECASE):
                return True
        except re.error:  # Java's syntax that Python's lacks: compare it as a name
            if pattern.lower() == name.lower():
                return True
    return False


def source_states(
    tables: Mapping[str, TableSpec], connectors: Sequence[Connector]
) -> list[SourceState]:
    """Each declared source's state: its running connector's, or else its first connector's
    (by name); MISSING when none feeds it."""
    states = []
    for source, readers in debezium_sources(tables).items():
        feeding = [c for c in connectors if feeds(c.config, source)]
        if not feeding:
            prefix, schema, table = source.split(".")
            why = (f"no connector feeds it (none has topic.prefix {prefix} and selects "
                   f"{schema}.{table})")  # fmt: skip
            states.append(SourceState(source, readers, MISSING, why))
            continue
        chosen = next((c for c in feeding if c.running), feeding[0])
        states.append(SourceState(source, readers, chosen.overall, chosen.describe(), chosen.name))
    return states


def unreachable(tables: Mapping[str, TableSpec], why: str) -> list[SourceState]:
    sources = debezium_sources(tables).items()
    return [SourceState(source, names, UNREACHABLE, why) for source, names in sources]


async def read_source_states(url: str, tables: Mapping[str, TableSpec]) -> list[SourceState]:
    """Every declared source's state as Connect at `url` reports it now; UNREACHABLE, with
    the cause, for each when Connect does not answer."""
    if not debezium_sources(tables):
        return []
    try:
        connectors = await asyncio.to_thread(ConnectClient(url).connectors)
    except (ConnectUnreachableError, ConnectAnswerError) as exc:
        return unreachable(tables, str(exc))
    return source_states(tables, connectors)


def with_placeholders(
    tables: Mapping[str, TableSpec], connectors: Sequence[Connector]
) -> tuple[dict[str, TableSpec], list[str]]:
    """Each Debezium table with the `unavailable.value.placeholder` of the connector feeding
    it (its running one first; none set: Debezium's default), and a line per table whose
    declared placeholder the connector contradicts (the connector's wins: it is what comes)."""
    placed, notes = dict(tables), []
    for name, spec in tables.items():
        feeding = [c for c in connectors if spec.source and feeds(c.config, spec.source)]
        if spec.format != "debezium" or not feeding:
            continue
        chosen = next((c for c in feeding if c.running), feeding[0])
        configured = chosen.config.get(PLACEHOLDER_SETTING) or None
        declared = spec.unavailable_value_placeholder
        if declared is not None and declared != configured:
            notes.append(
                f"table {name}: connector {chosen.name} sends {configured or 'the default'!r} for"
                f" a value it did not read (its {PLACEHOLDER_SETTING}), not the declared"
                f" {declared!r}: using the connector's"
            )
        placed[name] = spec.model_copy(update={"unavailable_value_placeholder": configured})
    return placed, notes


def with_connector_placeholders(
    debezium: DebeziumSettings, tables: Mapping[str, TableSpec], warn: Callable[[str], None]
) -> Mapping[str, TableSpec]:
    """The tables with each Debezium table's placeholder as its connector sets it, read
    from Connect when CDC_CONNECT_URL is set (as declared, with a warning, when it does not
    answer): what the decoder tells from data (streams/pipeline/debezium_unavailable.py)."""
    if not (debezium.connect_url and debezium_sources(tables)):
        return tables
    try:
        connectors = ConnectClient(debezium.connect_url).connectors()
    except (ConnectUnreachableError, ConnectAnswerError) as exc:
        warn(f"{PLACEHOLDER_SETTING}: the declared ones or Debezium's default ({exc})")
        return tables
    placed, notes = with_placeholders(tables, connectors)
    for note in notes:
        warn(note)
    return placed
