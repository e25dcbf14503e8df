"""The PostgreSQL snapshot source against a real PostgreSQL (the stack's own service class)."""

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest

from connectors.sources.postgres import PostgresSource, PostgresSourceError
from connectors.sources.snapshot_source import Chunk, Part
from streams.devstack.postgres import PostgresService
from streams.devstack.process import free_port, wait_until
from streams.model.events import ItemId
from streams.model.tables import TableSpec

pytestmark = pytest.mark.integration
# A key of two columns, one renamed; text keys that sort differently as text and as numbers.
PAIRS = TableSpec(partition_key="owner", sort_key="item", format="debezium",
                  source="app.public.pairs", columns={"owner_id": "owner"})  # fmt: skip


@pytest.fixture(scope="module")
def database() -> Iterator[PostgresService]:
    # As root PostgreSQL runs as `nobody`, who must reach its folder: not under pytest's own.
    folder = Path(tempfile.mkdtemp(prefix="cdc-postgres-"))
    folder.chmod(0o755)
    service = PostgresService(free_port(), folder)
    service.prepare()
    process = service.process()
    process.start()
    try:
        assert wait_until(service.ready, 30), process.log_tail()
        service.psql(
            "CREATE TABLE pairs (owner_id int, item text, note varchar(10), seen date,"
            " grid int[], PRIMARY KEY (owner_id, item));"
            "INSERT INTO pairs SELECT o, i::text, 'n' || o || '-' || i, NULL"
            " FROM generate_series(1, 12) o, generate_series(1, 11) i;"
            "UPDATE pairs SET seen = '2026-01-01' WHERE owner_id = 3 AND item IN ('7', '8');"
            "UPDATE pairs SET grid = '{{1,2},{3,4}}' WHERE owner_id = 3 AND item = '7';"
            "CREATE TABLE days (day date PRIMARY KEY, ratio real);"
            "INSERT INTO days VALUES ('2023-12-06', 0.5), ('infinity', 1)"
        )
        yield service
    finally:
        process.stop()
        shutil.rmtree(folder, ignore_errors=True)


def read(source: PostgresSource, cursor: str | None = None) -> list[Chunk]:
    async def chunks() -> list[Chunk]:
        try:
            return [chunk async for chunk in source.chunks(cursor)]
        finally:
            await source.close()

    return asyncio.run(chunks())


def test_rows_come_once_in_key_order_and_a_cursor_resumes_after_its_chunk(
    database: PostgresService,
) -> None:
    chunks = read(PostgresSource(database.url, "pairs", PAIRS, chunk_items=25))
    keys = [(i.key["owner"], i.key["item"]) for c in chunks for i in c.items]
    expected = sorted((str(o), str(i)) for o in range(1, 13) for i in range(1, 12))
    expected.remove(("3", "7"))  # Debezium cannot send its 2-D array: a problem instead
    assert sorted(keys, key=lambda k: (int(k[0]), k[1])) == keys
    assert sorted(keys) == expected
    [problem] = [p for c in chunks for p in c.problems]
    assert problem.key == 'pairs ["3", "7"]' and "'grid' holds a multi-dim" in problem.reason
    first = chunks[0].items[0]
    assert first.table == "pairs" and first.data == {"note": "n1-1", "seen": None, "grid": None}
    dated = next(i for c in chunks for i in c.items if i.key == {"owner": "3", "item": "8"})
    assert dated.data["seen"] == "2026-01-01"  # as the worker decodes Debezium's 20454
    resumed = read(PostgresSource(database.url, "pairs", PAIRS, 25), chunks[1].cursor)
    assert [i.key for c in resumed for i in c.items] == [i.key for c in chunks[2:] for i in c.items]


def test_parts_split_the_rows_between_them(database: PostgresService) -> None:
    parts = [read(PostgresSource(database.url, "pairs", PAIRS, 50, Part(n, 3))) for n in range(3)]
    counts = [sum(len(c.items) + len(c.problems) for c in chunks) for chunks in parts]
    assert sum(counts) == 12 * 11 and all(counts)


def test_a_missing_table_or_database_is_one_clear_error(database: PostgresService) -> None:
    other = PAIRS.model_copy(update={"source": "app.public.nowhere"})
    with pytest.raises(PostgresSourceError, match=r"no table public\.nowhere"):
        read(PostgresSource(database.url, "pairs", other))
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(PostgresSourceError, match="cannot reach PostgreSQL"):
        read(PostgresSource(closed, "pairs", PAIRS))
    nobody = database.url.replace("postgres@", "nobody_at_all@")  # the server answers: refused
    with pytest.raises(PostgresSourceError, match=r"^PostgreSQL refused .*nobody_at_all"):
        read(PostgresSource(nobody, "pairs", PAIRS))
    database.psql("DROP ROLE IF EXISTS stranger; CREATE ROLE stranger LOGIN")
    stranger = database.url.replace("postgres@", "stranger@")
    with pytest.raises(PostgresSourceError, match=r"reading public\.pairs .*permission denied"):
        read(PostgresSource(stranger, "pairs", PAIRS))


def test_a_date_key_reads_as_the_decoded_record_and_a_float_key_is_refused_first(
    database: PostgresService,
) -> None:
    days = TableSpec(partition_key="day", format="debezium", source="app.public.days")
    chunks = read(PostgresSource(database.url, "days", days))
    assert [i.key for c in chunks for i in c.items] == [{"day": "2023-12-06"}, {"day": "infinity"}]

    async def look_up() -> list[str]:
        source = PostgresSource(database.url, "days", days)
        try:  # the day count an old store holds is no row's key, and no SQL error either
            ids = [ItemId("days", day, "") for day in ("2023-12-06", "19697", "-0043-03-15")]
            return sorted(item.partition for item in await source.rows_of(ids))
        finally:
            await source.close()

    assert asyncio.run(look_up()) == ["2023-12-06"]
    ratios = TableSpec(partition_key="ratio", format="debezium", source="app.public.days")
    with pytest.raises(PostgresSourceError, match=r"key column 'ratio' is of type real"):
        read(PostgresSource(database.url, "days", ratios))


def test_the_stacks_postgres_takes_ten_connectors_as_postgresql_does_by_default(
    database: PostgresService,
) -> None:
    """Each Debezium connector holds a replication slot and a WAL sender: the local stack
    takes as many connectors as a PostgreSQL with its default settings (10), not 4."""
    try:
        with ExitStack() as senders:
            for n in range(10):
                database.psql(f"SELECT pg_create_logical_replication_slot('trial_{n}', 'pgoutput')")
                senders.enter_context(psycopg.connect(f"{database.url}?replication=database"))
    finally:
        database.psql(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE slot_name LIKE 'trial\\_%'"
        )
