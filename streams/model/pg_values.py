"""The one encoding of each PostgreSQL value in both stores (README: From a database with
Debezium, "How each PostgreSQL type is stored").

The worker's decoding of Debezium records and the PostgreSQL reader of `snapshot` and `verify`
both end here, so the two paths cannot drift apart. Where Debezium has a string form that
every setting sends alike (`timestamptz`, `timetz`, `interval` as a string, numeric text), it is
the canonical one; dates and times are ISO 8601 text with Java's year style (astronomical
years: `-0043` is 44 BC, `+10000`), the form `ZonedTimestamp` already uses.
"""

import base64
import json
import math
import struct
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from streams.model import numbers

MICROS_PER_DAY = 86_400_000_000
INFINITY, MINUS_INFINITY = "infinity", "-infinity"
# Debezium's numeric text (decimal.handling.mode=string) for PostgreSQL's special values.
NUMERIC_SPECIALS = {"NaN": "NAN", "Infinity": "POSITIVE_INFINITY", "-Infinity": "NEGATIVE_INFINITY"}
FLOAT_SPECIALS = frozenset({"NaN", "Infinity", "-Infinity"})
# PostgreSQL's ranges: 4714-11-24 BC to 5874897-12-31 (dates), 294276-12-31 (timestamps).
MIN_DAY, MAX_DAY = -2_440_588, 2_145_042_905
MIN_MICROS, MAX_MICROS = MIN_DAY * MICROS_PER_DAY, 106_762_940 * MICROS_PER_DAY - 1


def civil(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count from 1970-01-01, proleptic Gregorian, any range
    (Howard Hinnant's days-to-civil)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def year_text(year: int) -> str:
    """Java's ISO year: four digits, `-` before year 0 (1 BC), `+` past 9999."""
    if year < 0:
        return f"-{-year:04d}"
    return f"+{year}" if year > 9999 else f"{year:04d}"


def date_of_days(days: int) -> str:
    year, month, day = civil(days)
    return f"{year_text(year)}-{month:02d}-{day:02d}"


def time_of_micros(micros: int) -> str:
    """`HH:MM:SS` and the fraction without trailing zeros, as PostgreSQL prints a `time`
    (`24:00:00` included)."""
    seconds, fraction = divmod(micros, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{hour:02d}:{minute:02d}:{second:02d}{fraction_text(fraction, 0)}"


def fraction_text(micros: int, digits: int) -> str:
    """`.ffffff` without trailing zeros, but at least `digits` digits; "" for none."""
    text = f"{micros:06d}".rstrip("0").ljust(digits, "0")
    return f".{text}" if text else ""


def timestamp_of_micros(micros: int) -> str:
    days, rest = divmod(micros, MICROS_PER_DAY)
    return f"{date_of_days(days)}T{time_of_micros(rest)}"


def numeric_text(unscaled: int, scale: int) -> str:
    """A decimal's plain text with exactly `scale` fraction digits (Java's toPlainString).
    Built from its text, which is exact: arithmetic (scaleb) would round it to the context's
    28 digits, and a numeric(40,2) has 40."""
    return format(Decimal(f"{unscaled}E{-scale}"), "f")


def float_value(value: Any, single: bool = False) -> Any:
    """A `real` (`single`) or `double precision`: the shortest decimal that reads back as the
    same float, an int when integral (-0 is 0); NaN and the infinities as Debezium's text."""
    if type(value) is str:
        if value in FLOAT_SPECIALS:
            return value
        raise ValueError(f"{value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    if single:
        return numbers.plain(Decimal(_shortest_single(number)))
    return numbers.plain(Decimal(repr(number)) + 0)  # + 0: -0 is 0


def _shortest_single(number: float) -> str:
    target = struct.unpack("<f", struct.pack("<f", number))[0]
    for digits in range(1, 10):
        text = f"{target:.{digits}g}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == target:
            return text
    return repr(target)  # pragma: no cover -- nine digits always suffice


def bits_text(value: int) -> str:
    """`bit(n)` and `varbit` (n > 1) as Debezium's `Bits`: the value's bytes, least
    significant first, without high zero bytes, in base64."""
    return base64.b64encode(value.to_bytes((value.bit_length() + 7) // 8, "little")).decode()


def point_value(x: Any, y: Any) -> dict[str, Any]:
    """A `point` as Debezium's `Point` struct (its WKB little-endian, no SRID)."""
    wkb = struct.pack("<BIdd", 1, 1, float(x), float(y))
    return {"x": float_value(x), "y": float_value(y),
            "wkb": base64.b64encode(wkb).decode(), "srid": None}  # fmt: skip


def interval_text(months: int, days: int, micros: int) -> str:
    """Debezium's interval string (`interval.handling.mode=string`): every field, each part
    truncated toward zero as PostgreSQL splits it, seconds without trailing zeros."""
    years = _truncated(months, 12)
    hours = _truncated(micros, 3_600_000_000)
    rest = micros - hours * 3_600_000_000
    minutes = _truncated(rest, 60_000_000)
    seconds = (Decimal(rest - minutes * 60_000_000) / 1_000_000).normalize()
    return f"P{years}Y{months - 12 * years}M{days}DT{hours}H{minutes}M{format(seconds + 0, 'f')}S"


def _truncated(value: int, unit: int) -> int:
    whole = abs(value) // unit
    return -whole if value < 0 else whole


def hstore_text(pairs: Mapping[str, str | None]) -> str:
    """An `hstore` as Debezium's JSON text (`hstore.handling.mode=json`): compact, in the
    order of the Java HashMap it comes from (PostgreSQL's key order inserted; buckets by
    String.hashCode)."""
    keys = sorted(pairs, key=lambda k: (len(k.encode()), k.encode()))
    capacity = 16
    while len(keys) > capacity * 0.75:
        capacity *= 2
    ordered = sorted(keys, key=lambda k: _java_bucket(k, capacity))  # stable: insertion order
    return json.dumps({k: pairs[k] for k in ordered}, ensure_ascii=False, separators=(",", ":"))


def _java_bucket(key: str, capacity: int) -> int:
    data = key.encode("utf-16-be")
    code = 0
    for i in range(0, len(data), 2):
        code = (31 * code + int.from_bytes(data[i : i + 2], "big")) & 0xFFFFFFFF
    return (code ^ (code >> 16)) & (capacity - 1)
