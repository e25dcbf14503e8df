"""Live-item expiry (issue 16): when an upserted item stops being live, in both stores.

A table declares one of
    attribute         a data attribute holding the instant, in epoch seconds (a cache entry's
                      `expires_at`); an item without it (or not a number there) never expires
    lifetime_seconds  a fixed lifetime, counted from the write in each store (a cache TTL)

Redis drops the item's data keys at that instant; DynamoDB's TTL deletes the item some time
later, so its readers compare the instant with now (`is_past`). Tombstones expire as before.
"""

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Beyond the year 9999 an expiry means never (and stays exact as milliseconds in Lua).
LATEST = 253_402_300_799


class ExpirySpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    attribute: str | None = Field(default=None, min_length=1)
    lifetime_seconds: int | None = Field(default=None, ge=1, le=100 * 365 * 24 * 3600)

    @model_validator(mode="after")
    def _one_source(self) -> "ExpirySpec":
        if (self.attribute is None) == (self.lifetime_seconds is None):
            raise ValueError("expiry needs exactly one of 'attribute' and 'lifetime_seconds'")
        if self.attribute and self.attribute.startswith("_"):
            raise ValueError("expiry.attribute: names starting with '_' are bookkeeping")
        return self


def expires_at(spec: ExpirySpec | None, data: Mapping[str, Any] | None, now: float) -> int | None:
    """Epoch seconds (whole: DynamoDB's TTL counts seconds) when an upsert with `data`, written
    at `now`, expires; None: never."""
    if spec is None or data is None:
        return None
    if spec.lifetime_seconds is not None:
        return int(now) + spec.lifetime_seconds
    value = data.get(spec.attribute or "")
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return math.ceil(value) if value <= LATEST else None


def is_past(at: int | float | Decimal | None, now: float) -> bool:
    """Has an item that expires `at` expired by `now`? (How verify and the reads tell.)"""
    return at is not None and at <= now
