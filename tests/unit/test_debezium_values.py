"""Debezium 3.6.1's values, as its records carried them here under each setting, decoded into
the one encoding; the same rows read from PostgreSQL's text give the same values."""

from decimal import Decimal
from typing import Any

import pytest

from connectors.sources.postgres_values import Column, key_literal
from streams.model.errors import InvalidEventError
from streams.pipeline.debezium_values import decode_column

DATE = {"type": "int32", "name": "io.debezium.time.Date"}
MICRO_TS = {"type": "int64", "name": "io.debezium.time.MicroTimestamp"}


def decimal(scale: int) -> dict[str, Any]:
    return {
        "type": "bytes",
        "name": "org.apache.kafka.connect.data.Decimal",
        "parameters": {"scale": str(scale)},
    }


# (field schema, what the record held, the stored value, PostgreSQL's type and text of it)
SAME_VALUE = [
    (decimal(2), "AJY=", "1.50", Column("n", "numeric"), "1.50"),  # precise
    # numeric(40,2): more digits than decimal arithmetic's 28 keeps
    (
        decimal(2),
        "A6DJIHXA2/O4rLxfls4/CtM=",
        "12345678901234567890123456789012345678.91",
        Column("n", "numeric"),
        "12345678901234567890123456789012345678.91",
    ),
    (
        decimal(2),
        "/F8234o/JAxHU0OgaTHA9S0=",
        "-12345678901234567890123456789012345678.91",
        Column("n", "numeric"),
        "-12345678901234567890123456789012345678.91",
    ),
    ({"type": "string"}, "1.50", "1.50", Column("n", "numeric"), "1.50"),  # string mode
    ({"type": "string"}, "NAN", "NAN", Column("n", "numeric"), "NaN"),
    (
        {"type": "string"},
        "POSITIVE_INFINITY",
        "POSITIVE_INFINITY",
        Column("n", "numeric"),
        "Infinity",
    ),
    (
        decimal(2),
        "f/////////8=",
        "92233720368547758.07",
        Column("m", "money"),
        "92233720368547758.07",
    ),
    ({"type": "double"}, 5e-324, Decimal("5E-324"), Column("f", "float8"), "5e-324"),
    ({"type": "double"}, "Infinity", "Infinity", Column("f", "float8"), "Infinity"),
    ({"type": "double"}, 0.0, 0, Column("f", "float8"), "-0"),
    ({"type": "float"}, 1.4e-45, Decimal("1E-45"), Column("f", "float4"), "1e-45"),
    ({"type": "float"}, 16777216.0, 16777216, Column("f", "float4"), "1.6777216e+07"),
    ({"type": "string"}, "ab   ", "ab   ", Column("c", "bpchar"), "ab   "),
    ({"type": "bytes"}, "AP8Q", "AP8Q", Column("b", "bytea"), "\\x00ff10"),
    ({"type": "boolean"}, True, True, Column("b", "bit", typmod=1), "1"),
    (
        {"type": "bytes", "name": "io.debezium.data.Bits"},
        "AAE=",
        "AAE=",
        Column("v", "varbit"),
        "100000000",
    ),
    ({"type": "bytes", "name": "io.debezium.data.Bits"}, "", "", Column("v", "varbit"), "0000"),
    (DATE, 19697, "2023-12-06", Column("d", "date"), "2023-12-06"),
    (DATE, -735160, "-0043-03-15", Column("d", "date"), "0044-03-15 BC"),  # streamed
    (DATE, -2147472692, "infinity", Column("d", "date"), "infinity"),  # streamed
    (DATE, -625821272, "-infinity", Column("d", "date"), "-infinity"),  # snapshot
    (
        {"type": "int32", "name": "org.apache.kafka.connect.data.Date"},
        0,
        "1970-01-01",
        Column("d", "date"),
        "1970-01-01",
    ),
    (
        {"type": "string", "name": "io.debezium.time.IsoDate"},
        "2000-02-29Z",
        "2000-02-29",
        Column("d", "date"),
        "2000-02-29",
    ),
    (
        {"type": "int64", "name": "io.debezium.time.MicroTime"},
        86400000000,
        "24:00:00",
        Column("t", "time"),
        "24:00:00",
    ),
    (
        {"type": "int32", "name": "io.debezium.time.Time"},
        45296789,
        "12:34:56.789",
        Column("t", "time"),
        "12:34:56.789",
    ),
    (
        {"type": "string", "name": "io.debezium.time.ZonedTime"},
        "07:04:56Z",
        "07:04:56Z",
        Column("t", "timetz"),
        "12:34:56+05:30",
    ),
    (
        MICRO_TS,
        1701866096789012,
        "2023-12-06T12:34:56.789012",
        Column("t", "timestamp"),
        "2023-12-06 12:34:56.789012",
    ),
    (MICRO_TS, 9223372036825200000, "infinity", Column("t", "timestamp"), "infinity"),
    (
        {"type": "int64", "name": "io.debezium.time.Timestamp"},
        1701866096000,
        "2023-12-06T12:34:56",
        Column("t", "timestamp"),
        "2023-12-06 12:34:56",
    ),
    (
        {"type": "string", "name": "io.debezium.time.IsoTimestamp"},
        "2000-02-29T23:59:59.5Z",
        "2000-02-29T23:59:59.5",
        Column("t", "timestamp"),
        "2000-02-29 23:59:59.5",
    ),
    (
        {"type": "string", "name": "io.debezium.time.ZonedTimestamp"},
        "2023-12-06T10:34:56.700Z",
        "2023-12-06T10:34:56.700Z",
        Column("t", "timestamptz", typmod=3),
        "2023-12-06 10:34:56.7+00",
    ),
    (
        {"type": "string", "name": "io.debezium.time.ZonedTimestamp"},
        "-4712-01-01T00:00:00.000000Z",
        "-4712-01-01T00:00:00.000000Z",
        Column("t", "timestamptz"),
        "4713-01-01 00:00:00+00 BC",
    ),
    (
        {"type": "string", "name": "io.debezium.time.Interval"},
        "P0Y-1M2DT0H0M-1S",
        "P0Y-1M2DT0H0M-1S",
        Column("i", "interval"),
        "P-1M2DT-1S",
    ),
    (
        {"type": "string", "name": "io.debezium.time.Interval"},
        "P1Y2M3DT4H5M6.789S",
        "P1Y2M3DT4H5M6.789S",
        Column("i", "interval"),
        "P1Y2M3DT4H5M6.789S",
    ),
    (
        {"type": "string", "name": "io.debezium.time.Interval"},
        "P0Y0M0DT0H0M0S",
        "P0Y0M0DT0H0M0S",
        Column("i", "interval"),
        "PT0S",
    ),
    (
        {"type": "array", "items": DATE},
        [19697, None],
        ["2023-12-06", None],
        Column("a", "date", array=True),
        "{2023-12-06,NULL}",
    ),
    (
        {"type": "array", "items": {"type": "double"}},
        [1.5, "NaN", None],
        [Decimal("1.5"), "NaN", None],
        Column("a", "float8", array=True),
        "{1.5,NaN,NULL}",
    ),
    (
        {"type": "array", "items": {"type": "string"}},
        ["ab ", None],
        ["ab ", None],
        Column("a", "bpchar", array=True),
        '{"ab ",NULL}',
    ),
    (
        {"type": "string", "name": "io.debezium.data.Json"},
        '{"x y":"{x}","a":"2","b":"4","é":"5","z":"1","m":"3"}',
        '{"x y":"{x}","a":"2","b":"4","é":"5","z":"1","m":"3"}',
        Column("h", "hstore"),
        '{"a": "2", "b": "4", "m": "3", "z": "1", "é": "5", "x y": "{x}"}',
    ),
    (
        {"type": "map", "keys": {"type": "string"}, "values": {"type": "string"}},
        {"b c": None, "a": "1"},
        '{"a":"1","b c":null}',
        Column("h", "hstore"),
        '{"a": "1", "b c": null}',
    ),
    (
        {"type": "struct", "name": "io.debezium.data.geometry.Point"},
        {"x": 1.5, "y": -2.0, "wkb": "AQEAAAAAAAAAAAD4PwAAAAAAAADA", "srid": None},
        {"x": Decimal("1.5"), "y": -2, "wkb": "AQEAAAAAAAAAAAD4PwAAAAAAAADA", "srid": None},
        Column("p", "point"),
        "(1.5,-2)",
    ),
]


@pytest.mark.parametrize(("field", "sent", "stored", "column", "text"), SAME_VALUE)
def test_debeziums_value_and_postgresqls_text_are_stored_alike(
    field: dict[str, Any], sent: Any, stored: Any, column: Column, text: str
) -> None:
    assert decode_column("c", sent, {"c": field}) == stored
    assert column.read(text) == stored


@pytest.mark.parametrize(
    ("field", "sent", "setting"),
    [
        (
            {"type": "struct", "name": "io.debezium.data.VariableScaleDecimal"},
            {"scale": 1, "value": "Dw=="},
            "decimal.handling.mode=string",
        ),
        (
            {"type": "int64", "name": "io.debezium.time.MicroDuration"},
            37091106789000,
            "interval.handling.mode=string",
        ),
    ],
)
def test_a_value_sent_without_its_exact_value_is_a_letter_naming_the_setting(
    field: dict[str, Any], sent: Any, setting: str
) -> None:
    with pytest.raises(InvalidEventError, match=setting) as caught:
        decode_column("c", sent, {"c": field})
    assert caught.value.reason == "undecodable"
    assert "column 'c'" in str(caught.value)


def test_a_value_out_of_postgresqls_range_is_bad_data() -> None:
    """Debezium overflows a timestamp past its range (294276-12-31 arrived so)."""
    with pytest.raises(InvalidEventError) as caught:
        decode_column("t", -9223372036853775810, {"t": MICRO_TS})
    assert caught.value.reason == "bad_data"


def test_arrays_debezium_cannot_send_intact_are_named_not_compared() -> None:
    with pytest.raises(ValueError, match="multi-dimensional"):
        Column("a", "int4", array=True).read("{{1,2},{3,4}}")
    with pytest.raises(ValueError, match="NaN or Infinity"):
        Column("a", "numeric", array=True).read("{1.50,NaN}")
    with pytest.raises(ValueError, match="not compared"):
        Column("g", "geometry").read("0101000000")
    assert Column("i", "interval", array=True).omitted


def test_a_stored_key_becomes_postgresqls_text_or_none_when_no_row_can_have_it() -> None:
    day = Column("d", "date")
    assert key_literal(day, "2023-12-06") == "2023-12-06"
    assert key_literal(day, "-0043-03-15") == "0044-03-15 BC"
    assert key_literal(day, "19697") is None  # the raw day count stored before decoding
    assert key_literal(Column("n", "numeric"), "NAN") == "NaN"
    assert key_literal(Column("n", "int4"), "007") is None
