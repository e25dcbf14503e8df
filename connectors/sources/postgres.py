"""Snapshot source: a PostgreSQL table, read as the worker stores Debezium's records of it.

The table is the declared table's `source` (`<topic.prefix>.<schema>.<table>`), its columns
renamed by `columns`. Every value is read as PostgreSQL's own text and turned into the one
encoding the worker decodes Debezium's records into (`connectors.sources.postgres_values`),
key columns too, so `snapshot` and `verify` give each row exactly what the worker writes for
it. A value Debezium cannot send intact (a multi-dimensional array) or of a type not known here is a
source problem naming it (unless null); a table whose key has a type that cannot be a key is
refused before anything is read.

Rows come in primary-key order, a page at a time; the cursor is the last row's key.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq, sql
from psycopg.conninfo import make_conninfo

from connectors.sources.postgres_values import KEY_TYPES, SESSION, Column, key_literal
from connectors.sources.snapshot_source import WHOLE, Chunk, Part, SourceItem, SourceProblem
from streams.model.errors import ReplicatorError
from streams.model.events import ItemId
from streams.model.tables import TableSpec

DONE = "done"
MAX_PARAMETERS = 30_000  # a query may bind 65,535
COLUMNS_QUERY = """
    SELECT a.attname, a.atttypid::regtype::text, coalesce(nullif(a.atttypmod, -1), b.typtypmod),
           b.typcategory = 'A', coalesce(e.typname, b.typname), coalesce(e.typtype, b.typtype)
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    JOIN pg_type b ON b.oid = coalesce(nullif(t.typbasetype, 0), t.oid)
    LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A'
    WHERE a.attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))
      AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"""


class PostgresSourceError(ReplicatorError):
    """The database cannot be reached, refuses us, or holds no such table: one line for the
    CLI."""


@dataclass(frozen=True)
class Layout:
    """The table's columns (what each reads as) and its key columns, in key order."""

    columns: list[Column]
    keys: list[Column]
    casts: dict[str, str]  # column -> its type, as a cast back from text names it

    def key_text(self, row: dict[str, str | None]) -> list[str]:
        return [row[k.name] or "" for k in self.keys]


class PostgresSource:
    name = "postgres"

    def __init__(
        self, url: str, table: str, spec: TableSpec, chunk_items: int = 5000, part: Part = WHOLE
    ) -> None:
        if spec.source is None:
            raise ValueError(f"table {table!r} names no Debezium source table")
        _, self.schema, self.relation = spec.source.split(".")
        self.url, self.table, self.spec = url, table, spec
        self.chunk_items, self.part = chunk_items, part
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._layout: Layout | None = None

    async def _connection(self) -> "psycopg.AsyncConnection[Any]":
        if self._conn is None:
            try:
                self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            except psycopg.OperationalError as exc:
                raise await _connect_error(exc) from exc
            await self._conn.execute(SESSION)
        return self._conn

    async def _rows(self, query: "sql.Composed | str", params: Any) -> list[tuple[Any, ...]]:
        """A query's rows; a refusal (no privilege, say) is one line naming the table."""
        conn = await self._connection()
        try:
            async with conn.cursor() as cur:
                await cur.execute(query, params)
                return await cur.fetchall()
        except psycopg.Error as exc:
            where = f"{self.schema}.{self.relation}"
            raise PostgresSourceError(f"reading {where} from PostgreSQL: {_line(exc)}") from exc

    async def chunks(self, cursor: str | None) -> AsyncIterator[Chunk]:
        if cursor == DONE:
            return
        layout = await self.layout()
        after = json.loads(cursor) if cursor else None
        while True:
            rows = await self._rows(self._page_query(layout, after), after)
            chunk = Chunk(cursor=DONE)
            for values in rows:
                self._add_row(chunk, self._row(layout, values), layout)
            if len(rows) == self.chunk_items:
                after = layout.key_text(self._row(layout, rows[-1]))
                chunk.cursor = json.dumps(after)
            yield chunk
            if chunk.cursor == DONE:
                return

    async def layout(self) -> Layout:
        """The table's columns and key (read once); PostgresSourceError, before anything is
        compared or published, for a missing table or key column or a key of a type the
        stores' keys cannot hold exactly."""
        if self._layout is None:
            rows = await self._rows(COLUMNS_QUERY, (self.schema, self.relation))
            if not rows:
                raise PostgresSourceError(
                    f"no table {self.schema}.{self.relation} (CDC_POSTGRES_URL)"
                )
            columns = [
                Column(name, "enum" if typtype == "e" else kind, array, typmod)
                for name, _, typmod, array, kind, typtype in rows
            ]
            casts = {row[0]: row[1] for row in rows}
            self._layout = Layout(columns, self._key_columns(columns, casts), casts)
        return self._layout

    def _key_columns(self, columns: list[Column], casts: dict[str, str]) -> list[Column]:
        """The columns that become the key attributes, in key order."""
        by_name = {c.name: c for c in columns}
        column_of = {attr: column for column, attr in self.spec.columns.items()}
        keys = []
        for attr in self.spec.key_attributes:
            column = by_name.get(column_of.get(attr, attr))
            where = f"{self.schema}.{self.relation}"
            if column is None:
                raise PostgresSourceError(
                    f"{where} has no key column {column_of.get(attr, attr)!r}"
                )
            if column.array or column.kind not in KEY_TYPES:
                raise PostgresSourceError(
                    f"{where}: key column {column.name!r} is of type {casts[column.name]}, which"
                    " the stores cannot hold as a key exactly (keys are integers, numerics, text,"
                    " uuids, enums, network addresses, dates and times)"
                )
            keys.append(column)
        return keys

    @staticmethod
    def _row(layout: Layout, values: tuple[Any, ...]) -> dict[str, str | None]:
        return {c.name: v for c, v in zip(layout.columns, values, strict=True)}

    def _page_query(self, layout: Layout, after: list[str] | None) -> sql.Composed:
        """The next page, every value as text; `after` the last key read (its columns' types)."""
        select = sql.SQL(", ").join(c.expression() for c in layout.columns)
        # Qualified: the bare names would order by the selected text ("10" before "2").
        key_list = sql.SQL(", ").join(sql.Identifier("t", k.name) for k in layout.keys)
        where: sql.Composable = sql.SQL("")
        if after is not None:
            where = sql.SQL("WHERE ({}) > ({})").format(key_list, self._key_params(layout))
        return sql.SQL("SELECT {} FROM {}.{} AS t {} ORDER BY {} LIMIT {}").format(
            select, sql.Identifier(self.schema), sql.Identifier(self.relation), where,
            key_list, sql.Literal(self.chunk_items),
        )  # fmt: skip

    @staticmethod
    def _key_params(layout: Layout) -> sql.Composed:
        """One key's values as parameters, each cast to its column's type."""
        return sql.SQL(", ").join(
            sql.SQL("%s::{}").format(sql.SQL(layout.casts[k.name])) for k in layout.keys
        )

    def _add_row(self, chunk: Chunk, row: dict[str, str | None], layout: Layout) -> None:
        if not self.part.owns(json.dumps(layout.key_text(row)).encode()):
            return
        read = self._read_row(row, layout)
        if isinstance(read, SourceProblem):
            chunk.problems.append(read)
        else:
            chunk.items.append(read)

    def _read_row(self, row: dict[str, str | None], layout: Layout) -> SourceItem | SourceProblem:
        """A row as the worker stores Debezium's record of it, renamed; a problem if a
        column cannot be compared."""
        rename = self.spec.columns
        data: dict[str, Any] = {}
        key: dict[str, str] = {}
        for column in layout.columns:
            text = row[column.name]
            if column.omitted:
                continue  # Debezium leaves the column out of its records
            try:
                value = None if text is None else column.read(text)
            except ValueError as exc:
                where = f"{self.relation} {json.dumps(layout.key_text(row))}"
                return SourceProblem(where, str(exc))
            name = rename.get(column.name, column.name)
            if column in layout.keys:
                key[name] = str(value)  # an int, or text: the worker's key text
            else:
                data[name] = value
        return SourceItem(self.table, key, data)

    async def rows_of(self, items: Sequence[ItemId]) -> dict[ItemId, SourceItem | SourceProblem]:
        """The rows that hold these items now, read as `chunks` reads them; an item no row
        holds (or whose key no row could have) is absent from the answer (`verify` looks up
        what a store holds this way)."""
        layout = await self.layout()
        found: dict[ItemId, SourceItem | SourceProblem] = {}
        wanted = [(item, self._literals(item, layout)) for item in items]
        keys = [(item, literals) for item, literals in wanted if literals is not None]
        size = min(self.chunk_items, MAX_PARAMETERS // len(layout.keys))
        for start in range(0, len(keys), size):
            page = keys[start : start + size]
            params = [value for _, literals in page for value in literals]
            for values in await self._rows(self._keys_query(layout, len(page)), params):
                row = self._row(layout, values)
                read = self._read_row(row, layout)
                key = read.key if isinstance(read, SourceItem) else self._key(row, layout)
                found[ItemId.of(self.table, key, self.spec)] = read
        return found

    def _literals(self, item: ItemId, layout: Layout) -> list[str] | None:
        """The item's key as PostgreSQL's text of each key column, in key order."""
        stored = item.key(self.spec)
        column_of = {attr: column for column, attr in self.spec.columns.items()}
        by_name = {k.name: k for k in layout.keys}
        literals = []
        for attr in self.spec.key_attributes:
            literal = key_literal(by_name[column_of.get(attr, attr)], stored[attr])
            if literal is None:
                return None
            literals.append(literal)
        return literals

    def _key(self, row: dict[str, str | None], layout: Layout) -> dict[str, str]:
        return {
            self.spec.columns.get(k.name, k.name): str(k.read(row[k.name] or ""))
            for k in layout.keys
        }

    def _keys_query(self, layout: Layout, count: int) -> sql.Composed:
        """The rows of `count` keys, each key's values as parameters in key order."""
        select = sql.SQL(", ").join(c.expression() for c in layout.columns)
        key_list = sql.SQL(", ").join(sql.Identifier("t", k.name) for k in layout.keys)
        one = sql.SQL("({})").format(self._key_params(layout))
        return sql.SQL("SELECT {} FROM {}.{} AS t WHERE ({}) IN ({})").format(
            select, sql.Identifier(self.schema), sql.Identifier(self.relation), key_list,
            sql.SQL(", ").join([one] * count),
        )  # fmt: skip

    async def estimate(self) -> int | None:
        query = """SELECT reltuples::bigint FROM pg_class
                   WHERE oid = to_regclass(format('%%I.%%I', %s::text, %s::text))"""
        found = await self._rows(query, (self.schema, self.relation))
        return int(found[0][0]) if found and found[0][0] >= 0 else None  # -1: never analysed

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


async def _connect_error(exc: psycopg.OperationalError) -> PostgresSourceError:
    """Refused (a role, password or database the server turned down), not accepting
    connections now (starting up, shutting down, recovering) or unreachable. libpq gives
    such failures no SQLSTATE: its PQping, as pg_isready uses it, tells them apart."""
    pgconn = getattr(exc, "pgconn", None)
    host, port = (pgconn.host.decode(), pgconn.port.decode()) if pgconn else ("", "")
    answer = await _ping(host, port) if host else pq.Ping.NO_RESPONSE
    if answer == pq.Ping.OK:
        what = "PostgreSQL refused the connection"
    elif answer == pq.Ping.REJECT:
        what = ("PostgreSQL is not accepting connections now (starting up, shutting down or "
                "recovering: try again once it is up)")  # fmt: skip
    else:
        what = "cannot reach PostgreSQL"
    return PostgresSourceError(f"{what} (CDC_POSTGRES_URL): {_line(exc)}")


async def _ping(host: str, port: str) -> pq.Ping:
    """The server's answer to a connection attempt, whatever our credentials."""
    conninfo = make_conninfo(host=host, port=port or "5432", connect_timeout=3)
    return pq.Ping(await asyncio.to_thread(pq.PGconn.ping, conninfo.encode()))


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())  # the server's message may span lines
