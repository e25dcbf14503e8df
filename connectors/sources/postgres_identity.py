"""What PostgreSQL says of the tables Debezium reads: whether an UPDATE can leave a value out
of the change it logs.

Under any REPLICA IDENTITY but FULL, logical decoding leaves out a value stored out of line
(TOAST) that an UPDATE did not change. Columns of a variable-length type whose storage is not
`plain` (text, varchar, json, jsonb, bytea, arrays, hstore...) can be. Debezium 3.6.1 sends a
placeholder for most (streams/pipeline/debezium_unavailable.py), but null for an array of
another element type than these (smallint[], real[], double precision[], numeric[],
boolean[]...), which nobody can tell from NULL.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

# Element types whose arrays Debezium 3.6.1 sends a placeholder for (the others: null).
PLACEHELD_ELEMENTS = frozenset({"text", "varchar", "json", "jsonb", "int4", "int8", "date",
                                "bytea", "uuid"})  # fmt: skip
IDENTITIES = {"d": "DEFAULT", "n": "NOTHING", "i": "USING INDEX", "f": "FULL"}
QUERY = """
    SELECT n.nspname, c.relname, c.relreplident, a.attname,
           format_type(a.atttypid, a.atttypmod), a.attstorage <> 'p', e.typname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
    WHERE format('%%s.%%s', n.nspname, c.relname) = ANY(%s)
    ORDER BY n.nspname, c.relname, a.attnum"""


@dataclass
class Identity:
    """A table's REPLICA IDENTITY and its columns an UPDATE may leave out, as `name (type)`;
    `nulled`: those of them Debezium sends as null."""

    relation: str  # <schema>.<table>
    identity: str  # DEFAULT, NOTHING, USING INDEX or FULL
    toastable: list[str] = field(default_factory=list)
    nulled: list[str] = field(default_factory=list)


async def identities(url: str, relations: Sequence[str]) -> dict[str, Identity]:
    """Each existing relation (`<schema>.<table>`) of `relations`; psycopg.Error when the
    database cannot be asked."""
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, connect_timeout=5
    ) as conn:
        rows = await (await conn.execute(QUERY, [list(relations)])).fetchall()
    return _grouped(rows)


def _grouped(rows: Sequence[Sequence[Any]]) -> dict[str, Identity]:
    found: dict[str, Identity] = {}
    for schema, table, identity, column, kind, toastable, element in rows:
        relation = f"{schema}.{table}"
        held = found.setdefault(relation, Identity(relation, IDENTITIES.get(identity, identity)))
        if toastable:
            held.toastable.append(f"{column} ({kind})")
            if element is not None and element not in PLACEHELD_ELEMENTS:
                held.nulled.append(f"{column} ({kind})")
    return found
