"""Snapshot source: a PostgreSQL table, read as Debezium would send its rows.

The table is the declared table's `source` (`<topic.prefix>.<schema>.<table>`), its columns
renamed by `columns`. Every value is read as PostgreSQL's own text and turned into what the
connector we test with sends (`decimal.handling.mode=string`), so numbers and text stay exact:
integers are numbers, `numeric` stays its text ("1.50"), floats are exact decimals, booleans
are booleans, text-like types are text. A column of any other type (dates, arrays...) is a
source problem naming it (unless null): comparing it would need Debezium's encoding of that type.

Rows come in primary-key order, a page at a time; the cursor is the last row's key.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import pq, sql
from psycopg.conninfo import make_conninfo

from connectors.source import WHOLE, Chunk, Part, SourceItem, SourceProblem
from streams.model.errors import ReplicatorError
from streams.model.events import ItemId
from streams.model.tables import TableSpec

DONE = "done"
MAX_PARAMETERS = 30_000  # a query may bind 65,535
READERS: dict[str, Callable[[str], Any]] = {
    **dict.fromkeys(("int2", "int4", "int8"), int),
    **dict.fromkeys(("float4", "float8"), Decimal),
    "bool": lambda text: text == "true",  # bool::text, not psql's t
    **dict.fromkeys(("numeric", "text", "varchar", "bpchar", "uuid", "json", "jsonb"), str),
}


class PostgresSourceError(ReplicatorError):
    """The database cannot be reached, refuses us, or holds no such table: one line for the
    CLI."""


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
        self._column_types: dict[str, str] | None = None

    async def _connection(self) -> "psycopg.AsyncConnection[Any]":
        if self._conn is None:
            try:
                self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            except psycopg.OperationalError as exc:
                raise await _connect_error(exc) from exc
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
        columns = await self._columns()
        keys = self._key_columns(columns)
        after = json.loads(cursor) if cursor else None
        while True:
            rows = await self._rows(self._page_query(columns, keys, after), after)
            chunk = Chunk(cursor=DONE)
            for row in rows:
                self._add_row(chunk, dict(zip(columns, row, strict=True)), columns, keys)
            if len(rows) == self.chunk_items:
                after = [rows[-1][list(columns).index(k)] for k in keys]
                chunk.cursor = json.dumps(after)
            yield chunk
            if chunk.cursor == DONE:
                return

    async def _columns(self) -> dict[str, str]:
        """Each column's type name, in the table's order (read once)."""
        if self._column_types is None:
            self._column_types = await self._read_columns()
        return self._column_types

    async def _read_columns(self) -> dict[str, str]:
        query = """SELECT a.attname, t.typname FROM pg_attribute a
                   JOIN pg_type t ON t.oid = a.atttypid
                   WHERE a.attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))
                     AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"""
        rows = await self._rows(query, (self.schema, self.relation))
        found = {str(name): str(kind) for name, kind in rows}
        if not found:
            raise PostgresSourceError(f"no table {self.schema}.{self.relation} (CDC_POSTGRES_URL)")
        return found

    def _key_columns(self, columns: dict[str, str]) -> list[str]:
        """The columns that become the key attributes, in key order."""
        column_of = {attr: column for column, attr in self.spec.columns.items()}
        keys = [column_of.get(attr, attr) for attr in self.spec.key_attributes]
        missing = [k for k in keys if k not in columns]
        if missing:
            raise PostgresSourceError(
                f"{self.schema}.{self.relation} has no key column {missing[0]!r}"
            )
        return keys

    def _page_query(
        self, columns: dict[str, str], keys: list[str], after: list[str] | None
    ) -> sql.Composed:
        """The next page, every value as text; `after` the last key read (its columns' types)."""
        select = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns)
        # Qualified: the bare names would order by the selected text ("10" before "2").
        key_list = sql.SQL(", ").join(sql.Identifier("t", k) for k in keys)
        where: sql.Composable = sql.SQL("")
        if after is not None:
            typed = sql.SQL(", ").join(
                sql.SQL("%s::{}").format(sql.Identifier(columns[k])) for k in keys
            )
            where = sql.SQL("WHERE ({}) > ({})").format(key_list, typed)
        return sql.SQL("SELECT {} FROM {}.{} AS t {} ORDER BY {} LIMIT {}").format(
            select, sql.Identifier(self.schema), sql.Identifier(self.relation), where,
            key_list, sql.Literal(self.chunk_items),
        )  # fmt: skip

    def _add_row(
        self, chunk: Chunk, row: dict[str, str | None], columns: dict[str, str], keys: list[str]
    ) -> None:
        key_text = [row[k] or "" for k in keys]
        if not self.part.owns(json.dumps(key_text).encode()):
            return
        read = self._read_row(row, columns, keys)
        if isinstance(read, SourceProblem):
            chunk.problems.append(read)
        else:
            chunk.items.append(read)

    def _read_row(
        self, row: dict[str, str | None], columns: dict[str, str], keys: list[str]
    ) -> SourceItem | SourceProblem:
        """A row as Debezium would send it, renamed; a problem if a column cannot be compared."""
        key_text = [row[k] or "" for k in keys]
        rename = self.spec.columns
        key = self._renamed_key(row, keys)
        data: dict[str, Any] = {}
        for column, text in row.items():
            if column in keys:
                continue
            read = READERS.get(columns[column])
            if text is not None and read is None:  # a null is null in Debezium's records too
                where = f"{self.relation} {json.dumps(key_text)}"
                reason = f"column {column!r} of type {columns[column]} is not compared"
                return SourceProblem(where, reason)
            data[rename.get(column, column)] = None if text is None or read is None else read(text)
        return SourceItem(self.table, key, data)

    def _renamed_key(self, row: dict[str, str | None], keys: list[str]) -> dict[str, str]:
        return {self.spec.columns.get(k, k): row[k] or "" for k in keys}

    async def rows_of(self, items: Sequence[ItemId]) -> dict[ItemId, SourceItem | SourceProblem]:
        """The rows that hold these items now, read as `chunks` reads them; an item no row
        holds is absent from the answer (`verify` looks up what a store holds this way)."""
        columns = await self._columns()
        keys = self._key_columns(columns)
        found: dict[ItemId, SourceItem | SourceProblem] = {}
        size = min(self.chunk_items, MAX_PARAMETERS // len(keys))
        for start in range(0, len(items), size):
            page = items[start : start + size]
            params = [item.key(self.spec)[a] for item in page for a in self.spec.key_attributes]
            for values in await self._rows(self._keys_query(columns, keys, len(page)), params):
                row = dict(zip(columns, values, strict=True))
                read = self._read_row(row, columns, keys)
                key = read.key if isinstance(read, SourceItem) else self._renamed_key(row, keys)
                found[ItemId.of(self.table, key, self.spec)] = read
        return found

    def _keys_query(self, columns: dict[str, str], keys: list[str], count: int) -> sql.Composed:
        """The rows of `count` keys, each key's values as parameters in key order."""
        select = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns)
        key_list = sql.SQL(", ").join(sql.Identifier("t", k) for k in keys)
        one = sql.SQL("({})").format(
            sql.SQL(", ").join(sql.SQL("%s::{}").format(sql.Identifier(columns[k])) for k in keys)
        )
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
