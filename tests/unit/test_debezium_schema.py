"""Each schema worked out once: a record is decoded by its own schema, whatever the decoder
saw before it on its partition."""

import json
from typing import Any

import pytest

from streams.kafka.records import RawRecord
from streams.model.errors import InvalidEventError
from streams.model.events import ChangeEvent
from streams.model.tables import TableSpec
from streams.pipeline import debezium_schema
from streams.pipeline.debezium import DebeziumDecoder
from streams.pipeline.debezium_schema import SHAPES_KEPT
from tests.support.debezium import SOURCE, USERS, envelope

DATE = {"type": "int32", "name": "io.debezium.time.Date"}
PRICE = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
         "parameters": {"scale": "2"}}  # fmt: skip
TOAST = "__debezium_unavailable_value"


class Partition:
    """One decoder reading one partition of the users' topic, record after record."""

    def __init__(self, tables: dict[str, TableSpec] | None = None) -> None:
        self.decoder = DebeziumDecoder(tables or {"users": USERS})
        self.offset = 0

    def decode(self, value: bytes) -> list[ChangeEvent]:
        self.offset += 1
        found = self.decoder.decode(RawRecord(SOURCE, 0, self.offset, None, value))
        if found.problems:
            raise found.problems[0][1]
        return [event for event, _ in found.events]

    def data(self, value: bytes) -> dict[str, Any] | None:
        [event] = self.decode(value)
        return event.data


def change(lsn: int, fields: dict[str, dict[str, Any]] | None = None, **after: object) -> bytes:
    return envelope("u", lsn, after={"id": 7, **after}, last_commit=lsn - 1, fields=fields)


def compact(value: bytes) -> bytes:
    """The same record as Kafka Connect's JSON converter (Jackson) writes it: no spaces."""
    return json.dumps(json.loads(value), separators=(",", ":")).encode()


def test_a_column_whose_type_changes_mid_stream_is_decoded_by_each_records_schema() -> None:
    """ALTER TABLE users ALTER born TYPE date: the records before carry it as a number, the
    ones after as Debezium's Date (days since 1970), and a record from before sent again
    (a producer retry) still says a number."""
    partition = Partition()
    before = change(10, born=19697)
    assert partition.data(before) == {"born": 19697}
    assert partition.data(change(12, {"born": DATE}, born=19697)) == {"born": "2023-12-06"}
    assert partition.data(change(14, {"born": DATE}, born=19698)) == {"born": "2023-12-07"}
    assert partition.data(before) == {"born": 19697}


def test_a_column_added_mid_stream_is_decoded_and_an_older_schema_does_not_name_it() -> None:
    partition = Partition()
    assert partition.data(change(10, name="a b")) == {"name": "a b"}
    added = change(12, {"price": PRICE}, name="a b", price="AZA=")  # 400 unscaled: 4.00
    assert partition.data(added) == {"name": "a b", "price": "4.00"}
    old_schema = json.loads(change(14, name="a b"))
    old_schema["payload"]["after"]["price"] = "AZA="  # a value the old schema has no field for
    with pytest.raises(InvalidEventError, match="'price' is not in the record's schema"):
        partition.decode(json.dumps(old_schema).encode())


def test_a_placeholder_is_recognised_by_each_records_own_field_schema() -> None:
    """A TOASTed text is left unchanged; once the column is bytea its text form is data."""
    partition = Partition()
    assert partition.decode(change(10, note=TOAST))[0].unchanged == ["note"]
    as_bytes = {"note": {"type": "bytes"}}
    [event] = partition.decode(change(12, as_bytes, note=TOAST))
    assert (event.data, event.unchanged) == ({"note": TOAST}, None)
    assert partition.decode(change(14, note=TOAST))[0].unchanged == ["note"]


def test_flattened_and_envelope_records_on_one_partition_each_read_as_their_own() -> None:
    partition = Partition()
    row_schema = {"type": "struct", "name": "pg.public.users.Value", "optional": True,
                  "fields": [{"type": "int64", "field": "id"},
                             {"type": "string", "field": "name"}]}  # fmt: skip
    flattened = json.dumps({"schema": row_schema, "payload": {"id": 7, "name": "a b"}}).encode()
    flattened_delete = json.dumps({"schema": row_schema, "payload": None}).encode()
    for value in (flattened, change(10, name="a b"), flattened, flattened_delete):
        if value is flattened or value is flattened_delete:
            with pytest.raises(InvalidEventError, match="ExtractNewRecordState"):
                partition.decode(value)
        else:
            assert partition.data(value) == {"name": "a b"}
    assert partition.data(compact(change(12, name="{x}"))) == {"name": "{x}"}


def test_each_table_fed_by_one_record_renames_by_its_own_declaration() -> None:
    renamed = USERS.model_copy(update={"columns": {"id": "user_id", "name": "full_name"}})
    partition = Partition({"users": USERS, "people": renamed})
    for lsn in (10, 12):
        events = partition.decode(change(lsn, name="a b"))
        assert {event.table: event.data for event in events} == {
            "users": {"name": "a b"}, "people": {"full_name": "a b"}
        }  # fmt: skip


@pytest.mark.parametrize("form", [bytes, compact], ids=["spaced", "compact"])
def test_a_record_opening_with_the_last_records_schema_has_only_its_payload_parsed(
    form: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    partition = Partition()
    assert partition.data(form(change(10, name="a b"))) == {"name": "a b"}
    parsed: list[bytes | str] = []
    loads = debezium_schema.numbers.loads

    def seen(raw: bytes | str) -> Any:
        parsed.append(raw)
        return loads(raw)

    monkeypatch.setattr(debezium_schema.numbers, "loads", seen)
    value = form(change(12, name="user:7"))
    assert partition.data(value) == {"name": "user:7"}
    records = [raw for raw in parsed if type(raw) is bytes]  # not source.sequence's text
    assert [json.loads(raw) for raw in records] == [json.loads(value)["payload"]]


@pytest.mark.parametrize(
    "tail",
    [
        b', "extra": 1}',  # another key after the payload: read as before, the payload's
        b', "schema": null}',  # the schema named twice: the last one counts, as in JSON
        b"}}",  # not JSON
    ],
)
def test_a_record_opening_like_the_last_one_but_ending_otherwise_reads_as_a_fresh_decoder_does(
    tail: bytes,
) -> None:
    partition, fresh = Partition(), Partition()
    partition.decode(change(10, name="a b"))
    value = change(12, name="50%")
    odd = value[:-1] + tail
    outcomes = []
    for reader in (partition, fresh):
        try:
            outcomes.append(reader.decode(odd))
        except InvalidEventError as exc:
            outcomes.append((exc.reason, str(exc)))  # type: ignore[arg-type]
    assert outcomes[0] == outcomes[1]


def test_the_schemas_kept_are_bounded_and_a_forgotten_one_is_worked_out_again() -> None:
    partition = Partition()
    first = change(10, name="a b")
    for n in range(SHAPES_KEPT + 10):
        assert partition.data(change(12 + n, None, **{f"c{n}": n})) == {f"c{n}": n}
    assert len(partition.decoder.schemas.shapes) == SHAPES_KEPT
    assert partition.data(first) == {"name": "a b"}
    assert len(partition.decoder.schemas.shapes) == SHAPES_KEPT


def test_a_schema_is_read_only_as_far_as_a_record_needs_it() -> None:
    """A truncate's letter names the table whatever its schema's rows say."""
    value = json.loads(envelope("t", 10))
    value["schema"]["fields"] = ["not a field"]
    with pytest.raises(InvalidEventError) as caught:
        Partition().decode(json.dumps(value).encode())
    assert caught.value.reason == "truncate"


def letter(partition: Partition, value: bytes) -> InvalidEventError:
    """The dead letter a record becomes (the decoder keeps going: it raises nothing)."""
    partition.offset += 1
    found = partition.decoder.decode(RawRecord(SOURCE, 0, partition.offset, None, value))
    assert not found.events
    [(_, problem)] = found.problems
    assert isinstance(problem, InvalidEventError)
    return problem


@pytest.mark.parametrize(
    "field",
    [{"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal"},  # no scale
     {"type": "array", "items": "int32"}],  # items not a schema
)  # fmt: skip
def test_a_field_schema_no_decoder_can_read_is_a_dead_letter_and_the_next_record_is_applied(
    field: dict[str, Any],
) -> None:
    partition = Partition()
    problem = letter(partition, change(10, {"price": field}, price="AZA="))
    assert problem.reason == "schema" and "'price'" in str(problem)
    assert partition.data(change(12, name="a b")) == {"name": "a b"}


def test_a_field_list_holding_something_else_than_a_field_is_a_dead_letter() -> None:
    record = json.loads(change(10, name="a b"))
    after = next(f for f in record["schema"]["fields"] if f["field"] == "after")
    after["fields"].append("price")
    partition = Partition()
    problem = letter(partition, json.dumps(record).encode())
    assert problem.reason == "schema"
    assert partition.data(change(12, name="a b")) == {"name": "a b"}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [({"type": ["int32"]}, 1, "schema"),  # a type that is not a name
     ({"type": {"a": 1}}, 1, "schema"),
     ({**PRICE, "parameters": {"scale": "5000000"}}, "AZA=", "schema"),  # PostgreSQL: -1000..1000
     ({"type": "map"}, [1, 2], "bad_data"),  # an hstore that is not an object
     ({"type": "map"}, {"a": 1}, "bad_data")],
)  # fmt: skip
def test_a_value_its_field_schema_cannot_decode_is_a_dead_letter_and_the_worker_goes_on(
    field: dict[str, Any], value: object, reason: str
) -> None:
    partition = Partition()
    problem = letter(partition, change(10, {"price": field}, price=value))
    assert problem.reason == reason and "'price'" in str(problem)
    assert partition.data(change(12, name="a b")) == {"name": "a b"}
