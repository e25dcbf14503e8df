"""A table's Redis layout, as declared: what keys its readers already read.

    cdc       (default) the replicator's own hashes, data as one JSON blob (connectors/redis/)
    hash      one hash per item, one field per attribute, readable with plain HGETALL
    template  the legacy app's layout: a sorted set per partition, a string key per item

Templates name key attributes in braces (`opponents:{owner_id}`), as the legacy snapshot
source's do; any other brace is literal, so `{{owner_id}}` makes a Redis Cluster hash tag.
"""

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]+)\}")


class RedisLayoutSpec(BaseModel):
    """`key` is the item's key (hash: the hash; template: the string holding `value_attribute`,
    or the data as JSON when unset). `index_key` is the partition's sorted set, scored by the
    table's index attribute, with member `member`. Unset templates get defaults from the table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    layout: Literal["cdc", "hash", "template"] = "cdc"
    key: str | None = None
    index_key: str | None = None
    member: str | None = None
    value_attribute: str | None = None
    value_format: Literal["text", "json"] = "text"

    def cannot_hold(self, table: str, data: Mapping[str, Any], index: str | None) -> str | None:
        """Why an upsert with `data` does not fit this layout, or None. Checked when an event
        is published or decoded, so no store takes what the other must refuse."""
        if self.layout == "hash":
            return None if data else f"the hash layout of {table} cannot hold an item without data"
        if self.layout != "template" or self.value_attribute is None:
            return None  # `cdc`, or a template holding the data as JSON: anything fits
        value = self.value_attribute
        extra = next((name for name in data if name not in (value, index)), None)
        if extra is not None:
            held = f"{value!r}" + (f" and the index {index!r}" if index else "")
            return f"the template layout of {table} holds no attribute {extra!r} (only {held})"
        if value not in data:
            return f"the template layout of {table} needs {value!r}"
        if self.value_format == "text" and type(data[value]) is not str:
            return f"the template layout of {table} holds {value!r} as text (value_format 'text')"
        return None


def placeholders(template: str) -> list[str]:
    return PLACEHOLDER.findall(template)
