"""Live-item expiry: when an upserted item stops being live, in both stores.

A table declares one of
    attribute         a data attribute holding the instant, in epoch seconds (a cache entry's
                      `expires_at`); an item without it (or not a number there) never expires;
                      a value over MAX_SECONDS (year 5138) is refused: it is milliseconds
    lifetime_seconds  a fixed lifetime, counted from the event's version time `ts` (microseconds
                      since the epoch in cdc-v1), so every store and every replay of the event
                      (rebuild, repair) computes the same instant; a replay never restarts it

Redis drops the item's data keys at that instant; DynamoDB's TTL deletes the item some time
later, so its readers compare the instant with now (`is_past`). Both keep the version for the
tombstone grace period after it. Tombstones expire as before.
"""

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Beyond the year 9999 an expiry means never (and stays exact as milliseconds in Lua).
LATEST = 253_402_300_799
# Above it an instant is refused as milliseconds (10^11 s is the year 5138; now in ms is 10^12).
MAX_SECONDS = 10**11
# Below it a version time `ts` is refused as milliseconds or seconds (10^14 us is 1973).
MIN_TS = 10**14


class ExpirySpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    attribute: str | None = Field(default=None, min_length=1)
    # Strict: "3600" is refused, not read as a number (a quoted TOML value is a mistake).
    lifetime_seconds: int | None = Field(default=None, ge=1, le=100 * 365 * 24 * 3600, strict=True)

    @model_validator(mode="after")
    def _one_source(self) -> "ExpirySpec":
        if (self.attribute is None) == (self.lifetime_seconds is None):
            raise ValueError("expiry needs exactly one of 'attribute' and 'lifetime_seconds'")
        if self.attribute and self.attribute.startswith("_"):
            raise ValueError("expiry.attribute: names starting with '_' are bookkeeping")
        return self


def expires_at(spec: ExpirySpec | None, data: Mapping[str, Any] | None, ts: int) -> int | None:
    """Epoch seconds (whole: DynamoDB's TTL counts seconds) when an upsert with `data` and
    version time `ts` (microseconds) expires; None: never."""
    if spec is None or data is None:
        return None
    if spec.lifetime_seconds is not None:
        return -(-ts // 1_000_000) + spec.lifetime_seconds
    value = data.get(spec.attribute or "")
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return math.ceil(value) if value <= LATEST else None


def expiry_problem(spec: ExpirySpec, data: Mapping[str, Any]) -> str | None:
    """Why the data's expiry instant cannot be meant as epoch seconds, or None."""
    value = data.get(spec.attribute or "")
    if isinstance(value, int | float | Decimal) and value > MAX_SECONDS:
        return (
            f"expiry attribute {spec.attribute!r} is {value}: epoch seconds are expected, "
            f"and anything above {MAX_SECONDS} (the year 5138) is taken for milliseconds"
        )
    return None


def lifetime_problem(ts: int) -> str | None:
    """Why a version time `ts` cannot start a lifetime, or None: below MIN_TS it is not
    microseconds (a time in milliseconds, now, is about 1.7e12)."""
    if ts >= MIN_TS:
        return None
    return (
        f"ts {ts} starts this item's lifetime (expiry.lifetime_seconds), but it is not "
        f"microseconds since the epoch: anything below {MIN_TS} (the year 1973) is taken for "
        "milliseconds or seconds"
    )


def is_past(at: int | float | Decimal | None, now: float) -> bool:
    """Has an item that expires `at` expired by `now`? (How verify and the reads tell.)"""
    return at is not None and at <= now
