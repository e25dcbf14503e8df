"""Declared tables: which attributes form an item's key and which one orders its listing."""

from functools import cached_property

from pydantic import BaseModel, ConfigDict, model_validator

from streams.redis_layout_spec import RedisLayoutSpec, placeholders


class TableSpec(BaseModel):
    """How one logical table is keyed, stored and listed.

    `partition_key` groups items (the seed's `owner_id`); `sort_key` identifies an item within
    its partition (`opponent_id`). `index_attribute` is the numeric data attribute a partition is
    listed by, newest first (`timestamp`); in DynamoDB it is the range key of a local secondary
    index, in Redis the score of a sorted set per partition.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- Redis layout (issue 16): what Redis readers see; kept apart from the other fields. ---
    redis: RedisLayoutSpec = RedisLayoutSpec()

    @model_validator(mode="after")
    def _redis_templates_fit(self) -> "TableSpec":
        redis, keys = self.redis, set(self.key_attributes)
        wanted = {
            "key": keys,
            "index_key": {self.partition_key},
            "member": keys - {self.partition_key},
        }
        for field, needed in wanted.items():
            template = getattr(redis, field)
            if template is None:
                continue
            named = set(placeholders(template))
            if named != needed:
                names = ", ".join(f"{{{n}}}" for n in sorted(needed))
                raise ValueError(f"redis.{field} {template!r} must name exactly {names}")
        if redis.value_attribute and redis.value_attribute in {*keys, self.index_attribute}:
            raise ValueError("redis.value_attribute must be a data attribute other than the index")
        return self

    # --- Keys, DynamoDB table and listing index. ---
    partition_key: str
    sort_key: str | None = None
    dynamodb_table: str | None = None
    index_attribute: str | None = None
    index_name: str | None = None

    @model_validator(mode="after")
    def _names_are_distinct(self) -> "TableSpec":
        names = [n for n in (self.partition_key, self.sort_key, self.index_attribute) if n]
        if len(set(names)) != len(names):
            raise ValueError("partition_key, sort_key and index_attribute must differ")
        if self.index_attribute and not self.sort_key:
            raise ValueError(
                "index_attribute needs a sort_key: a partition of one item needs no listing"
            )
        if any(name.startswith("_") for name in names):
            raise ValueError("attribute names starting with '_' are reserved for bookkeeping")
        return self

    @cached_property  # read for every event checked
    def key_attributes(self) -> tuple[str, ...]:
        return (self.partition_key, self.sort_key) if self.sort_key else (self.partition_key,)

    def physical_name(self, logical: str) -> str:
        return self.dynamodb_table or logical

    def lsi_name(self) -> str | None:
        if self.index_attribute is None:
            return None
        return self.index_name or f"by_{self.index_attribute}"


OPPONENTS = TableSpec(
    partition_key="owner_id",
    sort_key="opponent_id",
    dynamodb_table="opponents",
    index_attribute="timestamp",
)

DEFAULT_TABLES = {"opponents": OPPONENTS}
