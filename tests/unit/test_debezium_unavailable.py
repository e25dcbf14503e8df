"""Debezium's placeholder for a TOASTed value it did not send, in every form Debezium 3.6.1
sent it in (tests/integration/test_debezium_postgres.py runs the connector), never stored."""

from typing import Any

import pytest

from connectors.sources.postgres_identity import _grouped
from streams.kafka.connect_rest import Connector, TaskState
from streams.kafka.connector_sources import PLACEHOLDER_SETTING, with_placeholders
from streams.model.errors import InvalidEventError
from streams.model.events import build_event
from streams.model.tables import OPPONENTS, TableSpec
from streams.pipeline.debezium import DebeziumDecoder
from streams.pipeline.debezium_unavailable import Unavailable
from streams.worker.replica_identity import warning
from tests.support.debezium import USERS, decode_one, envelope

DEFAULT = "__debezium_unavailable_value"
DEFAULT_B64 = "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="
DEFAULT_BYTES = [95, 95, 100, 101, 98, 101, 122, 105, 117, 109, 95, 117, 110, 97, 118, 97, 105,
                 108, 97, 98, 108, 101, 95, 118, 97, 108, 117, 101]  # fmt: skip
JSON = {"type": "string", "name": "io.debezium.data.Json"}
UUID = {"type": "string", "name": "io.debezium.data.Uuid"}
DATE = {"type": "int32", "name": "io.debezium.time.Date"}
# column -> (its field schema, the placeholder as Debezium 3.6.1 sent it with the default)
SENT: dict[str, tuple[dict[str, Any], Any]] = {
    "t": ({"type": "string"}, DEFAULT),
    "jb": (JSON, DEFAULT),
    "x": ({"type": "string", "name": "io.debezium.data.Xml"}, DEFAULT),
    "b": ({"type": "bytes"}, DEFAULT_B64),
    "ta": ({"type": "array", "items": {"type": "string"}}, [DEFAULT]),
    "ja": ({"type": "array", "items": JSON}, [DEFAULT]),
    "ua": ({"type": "array", "items": UUID}, ["b68a35a7-17ad-35b3-af2a-ae46edb4545a"]),
    "bya": ({"type": "array", "items": {"type": "bytes"}}, [DEFAULT_B64]),
    "ia": ({"type": "array", "items": {"type": "int32"}}, DEFAULT_BYTES),
    "ba": ({"type": "array", "items": {"type": "int64"}}, DEFAULT_BYTES),
    "da": ({"type": "array", "items": DATE}, DEFAULT_BYTES),
    "hs": (JSON, f'{{"{DEFAULT}":"{DEFAULT}"}}'),
    "hm": ({"type": "map", "keys": {"type": "string"}, "values": {"type": "string"}},
           {DEFAULT: DEFAULT}),
}  # fmt: skip
FIELDS = {"id": {"type": "int32"}, "n": {"type": "int32"}, **{c: f for c, (f, _) in SENT.items()}}


def decoder(placeholder: str | None = None) -> DebeziumDecoder:
    users = USERS.model_copy(update={"unavailable_value_placeholder": placeholder})
    return DebeziumDecoder({"opponents": OPPONENTS, "users": users})


def change(op: str, after: dict[str, Any], placeholder: str | None = None) -> Any:
    return decode_one(decoder(placeholder), envelope(op, 100, after=after, fields=FIELDS))


@pytest.mark.parametrize("op", ["u", "c"])  # c: a primary-key change's new row
def test_every_form_of_the_default_placeholder_is_left_unchanged_never_stored(op: str) -> None:
    event = change(op, {"id": 1, "n": 2, **{c: sent for c, (_, sent) in SENT.items()}})
    assert event.data == {"n": 2}
    assert event.unchanged == list(SENT)


@pytest.mark.parametrize(
    ("configured", "text", "b64", "numbers"),
    [("«gone»", "«gone»", "wqtnb25lwrs=", [-62, -85, 103, 111, 110, 101, -62, -69]),
     ("hex:0102ff", "\x01\x02\ufffd", "AQL/", [1, 2, -1])],
)  # fmt: skip
def test_a_configured_placeholder_is_recognised_in_its_forms_and_so_is_the_default(
    configured: str, text: str, b64: str, numbers: list[int]
) -> None:
    """As Debezium sent `unavailable.value.placeholder` «gone» and hex:0102ff; the default
    too, which the topic holds from before the setting."""
    after = {"id": 1, "n": 2, "t": text, "b": b64, "ta": [text], "ia": numbers,
             "hs": '{"' + text.replace("\x01", "\\u0001").replace("\x02", "\\u0002") + '":"'
                   + text.replace("\x01", "\\u0001").replace("\x02", "\\u0002") + '"}',
             "jb": DEFAULT}  # fmt: skip
    event = change("u", after, configured)
    assert event.data == {"n": 2}
    assert sorted(event.unchanged or []) == sorted(after.keys() - {"id", "n"})
    others = ("t", "b", "ta", "ia", "hs")  # without the setting, data
    assert change("u", after, None).data == {"n": 2, **{c: after[c] for c in others}}


def test_a_value_that_only_looks_like_a_placeholder_of_another_type_is_data() -> None:
    after = {"id": 1, "t": DEFAULT_B64, "b": DEFAULT, "ia": [95, 95], "ta": [DEFAULT, "x"],
             "jb": f'{{"{DEFAULT}":"x"}}'}  # fmt: skip
    event = change("u", after)
    assert event.unchanged is None
    assert event.data is not None and event.data.keys() == after.keys() - {"id"}


def test_a_snapshot_read_is_never_partial() -> None:
    event = change("r", {"id": 1, "t": DEFAULT})
    assert event.data == {"t": DEFAULT} and event.unchanged is None


def test_unchanged_rides_the_wire_only_for_debezium_tables_and_upserts() -> None:
    tables = {"opponents": OPPONENTS, "users": USERS}
    fields: dict[str, Any] = {"table": "users", "op": "upsert", "key": {"user_id": "1"},
                              "data": {"n": 1}, "unchanged": ["t"], "ts": 1, "origin": "o",
                              "event_id": "e"}  # fmt: skip
    assert build_event(fields, tables).unchanged == ["t"]
    wrong: list[dict[str, Any]] = [
        {"table": "opponents", "key": {"owner_id": "a", "opponent_id": "b"}},
        {"op": "delete"},
        {"unchanged": ["user_id"]},
        {"unchanged": ["n"]},
        {"unchanged": ["t", "t"]},
    ]
    for change_ in wrong:
        with pytest.raises(InvalidEventError):
            build_event(fields | change_, tables)


def test_a_declared_placeholder_must_be_for_a_debezium_table() -> None:
    with pytest.raises(ValueError, match="unavailable_value_placeholder"):
        TableSpec(partition_key="id", unavailable_value_placeholder="x")


def test_the_recognisers_first_look_passes_only_what_may_be_a_placeholder() -> None:
    unavailable = Unavailable(None)
    fields = {"t": {"type": "string"}}
    assert not unavailable.stands_for("t", "plain text", fields)
    assert not unavailable.stands_for("t", [], fields)
    assert not unavailable.stands_for("t", [{"a": 1}], fields)
    assert unavailable.stands_for("t", DEFAULT, fields)
    assert not unavailable.stands_for("other", DEFAULT, fields)  # not in the schema


def test_the_connectors_placeholder_is_the_tables_and_a_contradicted_declaration_is_noted() -> None:
    running = (TaskState(0, "RUNNING"),)
    custom = Connector("app", {"topic.prefix": "pg", PLACEHOLDER_SETTING: "«gone»"}, "RUNNING",
                       running)  # fmt: skip
    other = Connector("other", {"topic.prefix": "elsewhere"}, "RUNNING", running)
    tables, notes = with_placeholders({"users": USERS, "opponents": OPPONENTS}, [other, custom])
    assert tables["users"].unavailable_value_placeholder == "«gone»" and notes == []
    assert tables["opponents"] is OPPONENTS
    declared = USERS.model_copy(update={"unavailable_value_placeholder": "x"})
    default = Connector("app", {"topic.prefix": "pg"}, "RUNNING", running)
    tables, notes = with_placeholders({"users": declared}, [default])
    assert tables["users"].unavailable_value_placeholder is None
    assert notes == [
        "table users: connector app sends 'the default' for a value it did not read (its"
        " unavailable.value.placeholder), not the declared 'x': using the connector's"
    ]
    assert with_placeholders({"users": declared}, [])[0]["users"] is declared  # none feeds it


def test_a_table_that_may_lack_values_is_named_with_its_columns_and_the_alter_table() -> None:
    rows = [("public", "docs", "d", "id", "integer", False, None),
            ("public", "docs", "d", "body", "text", True, None),
            ("public", "docs", "d", "scores", "double precision[]", True, "float8"),
            ("public", "docs", "d", "words", "text[]", True, "text"),
            ("public", "full", "f", "body", "text", True, None)]  # fmt: skip
    found = _grouped(rows)
    assert found["public.full"].identity == "FULL"
    docs = found["public.docs"]
    assert docs.toastable == ["body (text)", "scores (double precision[])", "words (text[])"]
    assert docs.nulled == ["scores (double precision[])"]
    line = warning("docs", docs)
    assert "REPLICA IDENTITY DEFAULT" in line and "as null" in line
    assert line.endswith("`ALTER TABLE public.docs REPLICA IDENTITY FULL` sends every value.")
