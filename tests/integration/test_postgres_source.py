"""The PostgreSQL snapshot source against a real PostgreSQL (the stack's own service class)."""

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.postgres_source import PostgresSource, PostgresSourceError
from connectors.source import Chunk, Part
from streams.devstack.postgres import PostgresService
from streams.devstack.process import free_port, wait_until
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
            " PRIMARY KEY (owner_id, item));"
            "INSERT INTO pairs SELECT o, i::text, 'n' || o || '-' || i, NULL"
            " FROM generate_series(1, 12) o, generate_series(1, 11) i;"
            "UPDATE pairs SET seen = '2026-01-01' WHERE owner_id = 3 AND item = '7'"
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
    expected.remove(("3", "7"))  # its date column cannot be compared: a problem instead
    assert sorted(keys, key=lambda k: (int(k[0]), k[1])) == keys
    assert sorted(keys) == expected
    [problem] = [p for c in chunks for p in c.problems]
    assert problem.key == 'pairs ["3", "7"]' and "'seen' of type date" in problem.reason
    first = chunks[0].items[0]
    assert first.table == "pairs" and first.data == {"note": "n1-1", "seen": None}
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
