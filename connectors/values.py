"""Turn what a store returns into plain JSON values, so both stores print the same item."""

from decimal import Decimal
from typing import Any


def plain(value: Any) -> Any:
    """Numbers as int when integral, else float; containers recursively; the rest unchanged."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
