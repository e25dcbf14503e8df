"""A table's Redis layout, as declared: what keys its readers already read.

    cdc       (default) the replicator's own hashes, data as one JSON blob (connectors/redis_store)
    hash      one hash per item, one field per attribute, readable with plain HGETALL
    template  the seed's layout: a sorted set per partition, a string key per item

Templates name key attributes in braces (`opponents:{owner_id}`), as the legacy snapshot
source's do; any other brace is literal, so `{{owner_id}}` makes a Redis Cluster hash tag.
"""

import re
from typing import Literal

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


def placeholders(template: str) -> list[str]:
    return PLACEHOLDER.findall(template)
