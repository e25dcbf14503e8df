import asyncio

import pytest

from streams.kafka.records import RawRecord
from streams.model.errors import ConfigError, InvalidEventError
from streams.model.events import ChangeEvent, ItemId
from streams.model.tables import OPPONENTS, TableSpec
from streams.pipeline.debezium import DebeziumDecoder
from streams.pipeline.replicator import Replicator
from streams.settings import load_settings
from tests.debezium_support import SOURCE, USERS, envelope, record_key
from tests.support import MemoryDeadLetters, MemoryStore, upsert

TABLES = {"opponents": OPPONENTS, "users": USERS}
DECODER = DebeziumDecoder(TABLES)


def decode(value: bytes | None, key: bytes | None = None) -> ChangeEvent:
    return DECODER.decode(RawRecord(SOURCE, 0, 0, key, value))


def reason(value: bytes | None, key: bytes | None = None) -> str:
    with pytest.raises(InvalidEventError) as caught:
        decode(value, key)
    return caught.value.reason


@pytest.mark.parametrize("with_schema", [True, False])
@pytest.mark.parametrize("op", ["c", "u", "r"])
def test_create_update_and_read_upsert_after_with_columns_renamed(
    op: str, with_schema: bool
) -> None:
    row = {"id": 42, "name": "Ada", "score": 1.5}
    event = decode(envelope(op, 1000, after=row, with_schema=with_schema))
    assert (event.table, event.op, event.key) == ("users", "upsert", {"user_id": "42"})
    assert event.data == {"name": "Ada", "score": pytest.approx(1.5)}
    assert event.origin == "debezium:pg"


def test_numbers_stay_exact() -> None:
    value = envelope("c", 5, after={"id": 1, "price": 0.1})
    assert str(decode(value.replace(b"0.1", b"0.12345678901234567890123")).data["price"]) == (  # type: ignore[index]
        "0.12345678901234567890123"
    )


def test_a_delete_takes_its_key_from_before_or_else_from_the_record_key() -> None:
    assert decode(envelope("d", 9, before={"id": 3, "name": None})).key == {"user_id": "3"}
    event = decode(envelope("d", 9, before=None), key=record_key(4))
    assert (event.op, event.key) == ("delete", {"user_id": "4"})
    assert decode(envelope("d", 9), key=record_key(5, with_schema=False)).key == {"user_id": "5"}


@pytest.mark.parametrize(
    ("value", "key", "expected"),
    [
        (envelope("t", 9), None, "truncate"),
        (envelope("c", 9, after={"id": 1}, table="orders"), None, "unknown_table"),
        (envelope("c", 9), None, "schema"),  # no after
        (envelope("u", 9, after=None), None, "schema"),
        (envelope("d", 9), None, "schema"),  # neither before nor a record key
        (envelope("c", 9, after={"id": True}), None, "bad_key"),
        (envelope("c", 9, after={"id": {"a": 1}}), None, "bad_key"),
        (envelope("c", 9, after={"name": "no key"}), None, "bad_key"),
        (envelope("c", 9, after={"id": 1, "": 1}), None, "bad_data"),
        (envelope("x", 9, after={"id": 1}), None, "schema"),
        (envelope("c", 9, after={"id": 1}).replace(b'"lsn": 9', b'"lsn": "9"'), None, "schema"),
        (envelope("c", 9, after={"id": 1}).replace(b'"lsn": 9', b'"lsn": -1'), None, "schema"),
        (envelope("c", 9, after={"id": 1}).replace(b"postgresql", b"mysql"), None, "schema"),
        (b"not json", None, "not_json"),
        (b"[1, 2]", None, "schema"),
        (b'{"schema": {}, "payload": null}', None, "schema"),
    ],
)
def test_malformed_records_are_refused_with_their_reason(
    value: bytes, key: bytes | None, expected: str
) -> None:
    assert reason(value, key) == expected


def test_a_truncate_letter_names_the_table_and_a_bad_key_its_column() -> None:
    with pytest.raises(InvalidEventError, match=r"'pg.public.users' was truncated.*--table users"):
        decode(envelope("t", 9))
    with pytest.raises(InvalidEventError, match=r"key column 'id' \(attribute 'user_id'\)"):
        decode(envelope("c", 9, after={"id": True}))


def test_a_snapshot_read_loses_to_a_change_at_or_after_its_lsn() -> None:
    read = decode(envelope("r", 500, after={"id": 1, "v": "old"}))
    same = decode(envelope("u", 500, after={"id": 1, "v": "new"}))
    later = decode(envelope("u", 501, after={"id": 1, "v": "newer"}))
    assert read.version < same.version < later.version


def test_a_change_is_placed_after_the_commit_before_its_transaction() -> None:
    """A transaction that wrote before the last commit it follows is still newer than it."""
    earlier = decode(envelope("u", 700, after={"id": 1}, last_commit=650))
    early_write = decode(envelope("u", 600, after={"id": 1}, last_commit=800))
    next_in_txn = decode(envelope("u", 610, after={"id": 1}, last_commit=800))
    assert earlier.version < early_write.version < next_in_txn.version


def test_the_replicator_picks_the_decoder_by_topic() -> None:
    store, dlq = MemoryStore(), MemoryDeadLetters()
    replicator = Replicator(TABLES, [store], dlq)
    records = [
        RawRecord("changes", 0, 0, b"k", upsert("o", "p", 1).to_json()),
        RawRecord(SOURCE, 0, 0, record_key(1), envelope("c", 10, after={"id": 1})),
        RawRecord(SOURCE, 0, 1, record_key(1), None),
        RawRecord(SOURCE, 0, 2, None, envelope("t", 11)),
    ]
    report = asyncio.run(replicator.process(records))
    assert report.items == 2 and report.tombstones == 1 and dlq.reasons() == ["truncate"]
    assert ItemId("users", "1", "") in store.items


def test_settings_declare_a_debezium_table_and_its_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_TABLES", USERS_JSON)
    settings = load_settings()
    assert settings.tables["users"].feed_topic(settings.topic) == SOURCE


USERS_JSON = (
    f'{{"users": {{"partition_key": "user_id", "format": "debezium", "source": "{SOURCE}"}}}}'
)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ('{"u": {"partition_key": "id", "format": "debezium"}}', "needs 'source'"),
        ('{"u": {"partition_key": "id", "source": "a.b.c"}}', "for format 'debezium' only"),
        (
            '{"u": {"partition_key": "id", "format": "debezium", "source": "a.b.c",'
            ' "topic": "changes"}}',
            "topic 'changes' is read as cdc-v1, not debezium",
        ),
    ],
)
def test_a_wrong_declaration_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tables: str, message: str
) -> None:
    monkeypatch.setenv("CDC_TABLES", tables)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_a_cdc_v1_table_keeps_the_changes_topic() -> None:
    assert TableSpec(partition_key="id").feed_topic("changes") == "changes"
