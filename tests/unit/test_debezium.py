import asyncio
import json
from decimal import Decimal

import pytest
from aiokafka import TopicPartition

from streams.kafka.records import RawRecord
from streams.model.errors import ConfigError, InvalidEventError
from streams.model.events import ChangeEvent, ItemId
from streams.model.tables import OPPONENTS, TableSpec
from streams.pipeline.debezium import DebeziumDecoder
from streams.pipeline.intake import _committable
from streams.pipeline.replicator import Replicator
from streams.settings import load_settings
from tests.support import MemoryDeadLetters, MemoryStore, upsert
from tests.support.debezium import SOURCE, USERS, decode_one, envelope, events_of, record_key

TABLES = {"opponents": OPPONENTS, "users": USERS}
DECODER = DebeziumDecoder(TABLES)


def decode(value: bytes | None, key: bytes | None = None) -> ChangeEvent:
    return decode_one(DECODER, value, key)


def reason(value: bytes | None, key: bytes | None = None) -> str:
    with pytest.raises(InvalidEventError) as caught:
        decode(value, key)
    return caught.value.reason


@pytest.mark.parametrize("op", ["c", "u", "r"])
def test_create_update_and_read_upsert_after_with_columns_renamed(op: str) -> None:
    row = {"id": 42, "name": "Ada", "score": 1.5}
    event = decode(envelope(op, 1000, after=row))
    assert (event.table, event.op, event.key) == ("users", "upsert", {"user_id": "42"})
    assert event.data == {"name": "Ada", "score": pytest.approx(1.5)}
    assert event.origin == "debezium:pg"


def test_a_record_without_its_schema_is_a_dead_letter_naming_the_setting() -> None:
    with pytest.raises(
        InvalidEventError, match=r"value\.converter\.schemas\.enable=true"
    ) as caught:
        decode(envelope("c", 9, after={"id": 42, "name": "Ada"}, with_schema=False))
    assert caught.value.reason == "schema"
    assert reason(envelope("d", 9), key=record_key(5, with_schema=False)) == "schema"


def test_numbers_stay_exact() -> None:
    """A numeric's text (decimal.handling.mode=string) keeps every digit; a double is the
    double Java's text names, as the number PostgreSQL prints for it (its shortest form)."""
    row = {"id": 1, "price": "0.12345678901234567890123", "x": 0.5, "y": 0.5}
    value = envelope("c", 5, after=row)
    odd = value.replace(b'"x": 0.5, "y": 0.5', b'"x": 1.0E10, "y": 0.30000000000000004')
    exact = {"price": "0.12345678901234567890123", "x": 10**10, "y": Decimal("0.30000000000000004")}
    assert decode(odd).data == exact


def test_a_delete_takes_its_key_from_before_or_else_from_the_record_key() -> None:
    assert decode(envelope("d", 9, before={"id": 3, "name": None})).key == {"user_id": "3"}
    event = decode(envelope("d", 9, before=None), key=record_key(4))
    assert (event.op, event.key) == ("delete", {"user_id": "4"})
    date = {"type": "int32", "name": "io.debezium.time.Date"}
    assert decode(envelope("d", 9), key=record_key(19697, field=date)).key == {
        "user_id": "2023-12-06"
    }


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
    replicator = Replicator(TABLES, store, dlq)
    records = [
        RawRecord("changes", 0, 0, b"k", upsert("o", "p", 1).to_json()),
        RawRecord(SOURCE, 0, 0, record_key(1), envelope("c", 10, after={"id": 1})),
        RawRecord(SOURCE, 0, 1, record_key(2), envelope("c", 11, after={"id": 2})),
        RawRecord(SOURCE, 0, 2, record_key(2), envelope("d", 12, before={"id": 2})),
        RawRecord(SOURCE, 0, 3, record_key(2), None),  # after its delete: nothing to do
        RawRecord(SOURCE, 0, 4, None, envelope("t", 13)),
    ]
    report = asyncio.run(replicator.process(records))
    assert report.items == 3 and report.tombstones == 1 and dlq.reasons() == ["truncate"]
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


FANNED = {
    "users": USERS,
    "profiles": TableSpec(
        partition_key="pid",
        format="debezium",
        source=SOURCE,
        columns={"id": "pid", "name": "label"},
    ),
}


def test_one_record_feeds_every_table_declaring_its_source() -> None:
    store, dlq = MemoryStore(), MemoryDeadLetters()
    record = RawRecord(
        SOURCE, 0, 0, record_key(7), envelope("c", 10, after={"id": 7, "name": "a b"})
    )
    report = asyncio.run(Replicator(FANNED, store, dlq).process([record]))
    assert report.items == 2 and dlq.reasons() == []
    assert store.items[ItemId("users", "7", "")].data == {"name": "a b"}
    assert store.items[ItemId("profiles", "7", "")].data == {"label": "a b"}


def test_a_table_a_record_cannot_feed_is_lettered_by_name_and_the_others_still_get_it() -> None:
    tables = {**FANNED, "profiles": FANNED["profiles"].model_copy(update={"columns": {}})}
    found = DebeziumDecoder(tables).decode(
        RawRecord(SOURCE, 0, 0, None, envelope("u", 10, after={"id": 7, "name": "x"}))
    )
    assert [event.table for event, _ in found.events] == ["users"]
    [(_, problem)] = found.problems
    assert problem.reason == "bad_key" and str(problem).startswith("table 'profiles': ")


def test_two_tables_of_one_source_into_one_dynamodb_table_are_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    declared = {name: {**spec.model_dump(exclude_defaults=True), "dynamodb_table": "people"}
                for name, spec in FANNED.items()}  # fmt: skip
    monkeypatch.setenv("CDC_TABLES", json.dumps(declared))
    with pytest.raises(ConfigError, match=r"both read source 'pg\.public\.users' into DynamoDB"):
        load_settings()


def test_an_incremental_read_ranks_between_the_changes_around_its_window() -> None:
    """Sent as the window-close insert at 705 streams (the commit before it ended at 700): a
    change streamed before it is older, one after it newer."""
    before = decode(envelope("u", 690, after={"id": 1}, last_commit=680))
    read = decode(envelope("r", None, after={"id": 1}, incremental=True, sequence=["700", "705"]))
    after = decode(envelope("u", 702, after={"id": 1}, last_commit=710))
    assert before.version < read.version < after.version
    assert read.op == "upsert" and read.event_id.endswith("i")


def test_an_incremental_read_without_a_sequence_is_lettered() -> None:
    value = envelope("r", None, after={"id": 1}, incremental=True, sequence=[None, None])
    with pytest.raises(InvalidEventError, match="incremental snapshot read without"):
        decode(value)


def test_the_first_transaction_streamed_after_the_reads_beats_them() -> None:
    """Written at 480, before the snapshot's consistent point 500, committed after it: Debezium
    sends it after the reads with no last commit; the reads before it in the partition place
    it. Alone (a consumer that never saw the reads), it is placed by its own LSN."""
    read = envelope("r", 500, after={"id": 1, "name": "old"})
    first = envelope("u", 480, after={"id": 1, "name": "new"})
    after = envelope("u", 520, after={"id": 1, "name": "newer"}, last_commit=515)
    records = [
        RawRecord(SOURCE, 0, i, record_key(1), v) for i, v in enumerate((read, first, after))
    ]
    events = events_of(DebeziumDecoder(TABLES), records)
    assert events[0].version < events[1].version < events[2].version
    assert decode(first).version < events[0].version


def tombstoned(*values: bytes | None, offset: int = 0) -> list[ChangeEvent]:
    """The events of `values`, records of row 1 at consecutive offsets of one partition."""
    records = [RawRecord(SOURCE, 0, offset + i, record_key(1), v) for i, v in enumerate(values)]
    return events_of(DebeziumDecoder(TABLES), records)


def test_a_tombstone_after_its_delete_changes_nothing() -> None:
    events = tombstoned(envelope("d", 600, before={"id": 1}, last_commit=590), None)
    assert [e.op for e in events] == ["delete"]


def test_a_tombstone_whose_delete_was_compacted_away_deletes_and_loses_to_a_later_change() -> None:
    """The cleaner kept row 2's update and row 1's tombstone: the tombstone deletes what the
    stores hold of row 1 (an update at 550) and loses to row 1 inserted again at 700."""
    held = decode(envelope("u", 550, after={"id": 1, "name": "old"}, last_commit=540))
    other = RawRecord(SOURCE, 0, 3, record_key(2), envelope("u", 610, after={"id": 2},
                                                            last_commit=605))  # fmt: skip
    again = envelope("c", 700, after={"id": 1, "name": "again"}, last_commit=690)
    decoder = DebeziumDecoder(TABLES)
    [second, gone, back] = events_of(decoder, [other, *(
        RawRecord(SOURCE, 0, 9 + i, record_key(1), v) for i, v in enumerate((None, again))
    )])  # fmt: skip
    assert gone.op == "delete" and gone.key == {"user_id": "1"}
    assert held.version < second.version < gone.version < back.version


def test_a_tombstone_first_after_a_restart_waits_for_the_next_record_of_its_partition() -> None:
    """Nothing decoded before it: it is placed just below the record after it, however far."""
    decoder = DebeziumDecoder(TABLES)
    waiting = decoder.decode(RawRecord(SOURCE, 0, 5, record_key(1), None))
    assert waiting.events == [] and waiting.skipped_tombstones == 0
    nxt = envelope("u", 610, after={"id": 2}, last_commit=605)
    found = decoder.decode(RawRecord(SOURCE, 0, 8, record_key(2), nxt))
    [(gone, tombstone), (update, _)] = sorted(found.events, key=lambda pair: pair[0].op)
    assert (gone.op, gone.key, tombstone.offset) == ("delete", {"user_id": "1"}, 5)
    held = decode(envelope("u", 550, after={"id": 1}, last_commit=540))
    assert held.version < gone.version < update.version


def test_a_row_flattened_by_extract_new_record_state_is_lettered_naming_the_transform() -> None:
    flattened = json.dumps({"id": 1, "name": "a", "__deleted": "false"}).encode()
    with pytest.raises(InvalidEventError, match="ExtractNewRecordState") as caught:
        decode(flattened)
    assert caught.value.reason == "schema"


def test_a_flattened_delete_with_its_schema_is_lettered_naming_the_transform() -> None:
    """ExtractNewRecordState with schemas on sends a delete as a null payload under the row's
    own struct schema (not Debezium's Envelope)."""
    schema = {"type": "struct", "name": "pg.public.users.Value", "optional": True,
              "fields": [{"type": "int64", "field": "id"}]}  # fmt: skip
    deleted = json.dumps({"schema": schema, "payload": None}).encode()
    with pytest.raises(InvalidEventError, match="ExtractNewRecordState") as caught:
        decode(deleted)
    assert caught.value.reason == "schema"


def test_a_waiting_tombstone_holds_its_partitions_commit_back_until_it_is_placed() -> None:
    """Its delete is in no store yet: the intake commits up to it, not past it (after a restart
    or a rebalance it is consumed again and waits again), until the next record places it."""
    store, where = MemoryStore(), TopicPartition(SOURCE, 0)
    replicator = Replicator(TABLES, store, MemoryDeadLetters())
    waiting = [RawRecord(SOURCE, 0, 5, record_key(1), None)]
    report = asyncio.run(replicator.process(waiting))
    assert report.held_back == {(SOURCE, 0): 5} and report.tombstones == 0
    assert _committable({where: waiting}, report) == {where: 5}
    after = [RawRecord(SOURCE, 0, 6, record_key(2), envelope("u", 610, after={"id": 2},
                                                              last_commit=605))]  # fmt: skip
    report = asyncio.run(replicator.process(after))
    assert report.held_back == {} and _committable({where: after}, report) == {where: 7}
    assert store.items[ItemId("users", "1", "")].op == "delete"
