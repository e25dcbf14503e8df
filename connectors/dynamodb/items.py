"""What a change event can carry of a DynamoDB item, and the replicator's version on it.

One rule for every reader of a table (`snapshot --source dynamodb`, `verify`): an item holding a
set (`SS`, `NS`, `BS`) or binary (`B`) at any depth, an attribute starting with a single `_`
other than the replicator's own (data names starting with `_` are stored with two), or a `_v`
that is not a version token cannot become an event unaltered. It
is reported with its key and this cause, never copied nor repaired with a set made a list.
"""

import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from streams.model.events import ChangeEvent, Version
from streams.model.expiry import ExpirySpec, expires_at, is_past

VERSION_ATTR = "_v"
DELETED_ATTR = "_deleted"
EXPIRES_ATTR = "_expires_at"  # the table's TTL attribute: when DynamoDB may delete the item
LIVE_UNTIL_ATTR = "_live_until"  # an expiring item's instant, which readers compare with now
OLDER_ATTR = "_o"  # the origins of values older than the item (connectors/dynamodb/merge.py)
BOOKKEEPING = frozenset({VERSION_ATTR, DELETED_ATTR, EXPIRES_ATTR, LIVE_UNTIL_ATTR, OLDER_ATTR})
# DynamoDB types with no JSON form: an event would turn a set into a list, or fail on bytes.
NOT_IN_JSON = {"SS": "a string set", "NS": "a number set", "BS": "a binary set", "B": "binary"}


def version_of(raw: Mapping[str, Any]) -> Version | None:
    """The version the replicator wrote on an item, None for one written before it;
    ValueError when `_v` is not a version token."""
    attribute = raw.get(VERSION_ATTR)
    if attribute is None:
        return None
    token = attribute.get("S")
    if token is None:
        raise ValueError(f"attribute {VERSION_ATTR!r} is not a string")
    return Version.from_token(token)


def uncarried(raw: Mapping[str, Any]) -> str | None:
    """Why a change event cannot carry this item unaltered, or None."""
    for name, value in raw.items():
        if name[:1] == "_" and name[:2] != "__" and name not in BOOKKEEPING:
            return (
                f"attribute {name!r}: names starting with one _ are the replicator's bookkeeping "
                "(data attributes starting with _ are stored with two)"
            )
        kind = _unsupported_type(value)
        if kind:
            return f"attribute {name!r} holds {NOT_IN_JSON[kind]} ({kind}), which JSON cannot carry"
    try:
        version_of(raw)
    except ValueError as exc:
        return f"attribute {VERSION_ATTR!r}: {exc}"
    return None


def _unsupported_type(value: Mapping[str, Any]) -> str | None:
    (kind, inner), *_ = value.items()
    if kind in NOT_IN_JSON:
        return str(kind)
    children = inner.values() if kind == "M" else inner if kind == "L" else ()
    return next((found for child in children if (found := _unsupported_type(child))), None)


def expiry_attributes(spec: ExpirySpec | None, event: ChangeEvent, grace: int) -> dict[str, Any]:
    """For an upsert that expires: its instant, and the TTL attribute `grace` seconds later, so
    DynamoDB keeps the version as long as Redis does (an older event stays stale); or nothing."""
    at = expires_at(spec, event.data, event.ts)
    if at is None:
        return {}
    return {LIVE_UNTIL_ATTR: {"N": str(at)}, EXPIRES_ATTR: {"N": str(at + grace)}}


def past_expiry(raw: Mapping[str, Any]) -> bool:
    """A live item past its instant: until TTL deletes it, every reader (get, list, verify)
    takes it as gone. (An item written before `_live_until` has its instant in `_expires_at`.)"""
    at = raw.get(LIVE_UNTIL_ATTR, raw.get(EXPIRES_ATTR, {})).get("N")
    return DELETED_ATTR not in raw and at is not None and is_past(Decimal(at), time.time())
