"""At start, with CDC_POSTGRES_URL set: a warning per Debezium table whose PostgreSQL table can
log an UPDATE without a value it left unchanged (REPLICA IDENTITY other than FULL, and columns
TOASTed when large), naming `ALTER TABLE ... REPLICA IDENTITY FULL` (connectors/
sources/postgres_identity.py)."""

import logging
from collections.abc import Mapping

import faust
import psycopg

from connectors.sources.postgres_identity import Identity, identities
from streams.model.tables import TableSpec
from streams.settings_parts import DebeziumSettings

log = logging.getLogger(__name__)


def add_replica_identity_check(
    app: faust.App, debezium: DebeziumSettings, tables: Mapping[str, TableSpec]
) -> None:
    """The check, once, as a task of the app (it never holds the start back)."""
    sources = _relations(tables)
    if not debezium.postgres_declared or not sources:
        return

    @app.task
    async def check_replica_identity() -> None:
        for line in await identity_warnings(debezium.postgres_url, tables):
            log.warning("%s", line)


async def identity_warnings(url: str, tables: Mapping[str, TableSpec]) -> list[str]:
    """A line per table that may lack values; one line when PostgreSQL does not answer."""
    relations = _relations(tables)
    try:
        found = await identities(url, sorted(set(relations.values())))
    except psycopg.Error as exc:
        why = " ".join(str(exc).split())[:300]
        return [f"REPLICA IDENTITY of the Debezium tables not checked (CDC_POSTGRES_URL): {why}"]
    return [
        warning(name, found[relation])
        for name, relation in relations.items()
        if relation in found and found[relation].identity != "FULL" and found[relation].toastable
    ]


def warning(table: str, held: Identity) -> str:
    line = (
        f"table {table}: PostgreSQL table {held.relation} has REPLICA IDENTITY {held.identity}"
        f" and columns stored out of line when large ({', '.join(held.toastable)}): an UPDATE"
        " that leaves such a value unchanged sends none. The stores keep the value they hold;"
        " an item that holds none (a new primary key) is counted in"
        f" cdc_items_without_values_total until `cdc-replicator verify --source postgres --table"
        f" {table} --store <store> --repair` fills it."
    )
    if held.nulled:
        line += (
            f" Debezium sends an unchanged {', '.join(held.nulled)} as null, which nothing tells"
            " from NULL: the stores hold null."
        )
    return line + f" `ALTER TABLE {held.relation} REPLICA IDENTITY FULL` sends every value."


def _relations(tables: Mapping[str, TableSpec]) -> dict[str, str]:
    """Each Debezium table's source relation, `<schema>.<table>`."""
    return {
        name: spec.source.split(".", 1)[1]
        for name, spec in tables.items()
        if spec.format == "debezium" and spec.source
    }
