"""Declared tables: which attributes form an item's key and which one orders its listing."""

from collections.abc import Mapping
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from streams.model.expiry import ExpirySpec
from streams.model.redis_layout_spec import RedisLayoutSpec, placeholders

Format = Literal["cdc-v1", "debezium"]
# Redis layout options for the `template` and `hash` layouts, and those for `template` only.
TEMPLATE_OPTIONS = ("key", "index_key", "member", "value_attribute", "value_format")
TEMPLATE_ONLY = ("value_attribute", "value_format")


class TableSpec(BaseModel):
    """How one logical table is keyed, stored and listed.

    `partition_key` groups items (the legacy app's `owner_id`); `sort_key` identifies an item within
    its partition (`opponent_id`). `index_attribute` is the numeric data attribute a partition is
    listed by, newest first (`timestamp`); in DynamoDB it is the range key of a local secondary
    index, in Redis the score of a sorted set per partition.

    Where its changes come from: `format` `cdc-v1` (our envelope, on `topic`, by default the
    changes topic) or `debezium` (the JSON converter's envelope of the source table `source`,
    `<topic.prefix>.<schema>.<table>`, on `topic`, by default Debezium's topic for it: `source`).
    `columns` renames source columns to attributes; unnamed columns keep their names.
    `unavailable_value_placeholder` is the connector's `unavailable.value.placeholder` when it
    sets one and the worker cannot read it from Kafka Connect (CDC_CONNECT_URL unset): the text
    Debezium sends for a TOASTed value it did not read (streams/pipeline/debezium_unavailable.py).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- Redis layout: what Redis readers see; kept apart from the other fields. ---
    redis: RedisLayoutSpec = RedisLayoutSpec()
    # When live items expire (both stores; streams/model/expiry.py); None: never.
    expiry: ExpirySpec | None = None

    @model_validator(mode="after")
    def _redis_layout_fits(self) -> "TableSpec":
        problem = _redis_problem(self)
        if problem:
            raise ValueError(problem)
        if self.expiry and self.expiry.attribute in self.key_attributes:
            raise ValueError("expiry.attribute must be a data attribute (key values are text)")
        if self.expiry and self.expiry.lifetime_seconds and self.format == "debezium":
            raise ValueError(
                "expiry.lifetime_seconds counts from the version time, and a debezium table's "
                "versions are log positions: declare expiry.attribute instead"
            )
        return self

    # --- Keys, DynamoDB table and listing index. ---
    partition_key: str
    sort_key: str | None = None
    dynamodb_table: str | None = None
    index_attribute: str | None = None
    index_name: str | None = None
    topic: str | None = Field(default=None, min_length=1, max_length=249)
    format: Format = "cdc-v1"
    source: str | None = Field(default=None, pattern=r"^[^.\s]+\.[^.\s]+\.[^.\s]+$")
    columns: dict[str, str] = Field(default_factory=dict)
    unavailable_value_placeholder: str | None = Field(default=None, min_length=1)

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
        if self.format == "debezium" and self.source is None:
            raise ValueError("a debezium table needs 'source': <topic.prefix>.<schema>.<table>")
        if self.format == "cdc-v1" and (
            self.source or self.columns or self.unavailable_value_placeholder
        ):
            raise ValueError(
                "'source', 'columns' and 'unavailable_value_placeholder' are for format"
                " 'debezium' only"
            )
        return self

    def __hash__(self) -> int:  # frozen, but `columns` is a dict: hash what defines it
        return hash((self.partition_key, self.sort_key, self.source, tuple(self.columns.items())))

    @cached_property  # read for every event checked
    def key_attributes(self) -> tuple[str, ...]:
        return (self.partition_key, self.sort_key) if self.sort_key else (self.partition_key,)

    @cached_property  # compared with every event's key
    def key_set(self) -> frozenset[str]:
        return frozenset(self.key_attributes)

    def physical_name(self, logical: str) -> str:
        return self.dynamodb_table or logical

    def feed_topic(self, changes_topic: str) -> str:
        """The topic this table's changes arrive on."""
        if self.topic:
            return self.topic
        return self.source if self.format == "debezium" and self.source else changes_topic

    def lsi_name(self) -> str | None:
        if self.index_attribute is None:
            return None
        return self.index_name or f"by_{self.index_attribute}"


def _redis_problem(spec: TableSpec) -> str | None:
    """What is wrong with the table's Redis layout as declared, or None. An option the layout
    would ignore is refused: its readers would never see what it names."""
    redis = spec.redis
    defaults = RedisLayoutSpec()
    given = [name for name in TEMPLATE_OPTIONS if getattr(redis, name) != getattr(defaults, name)]
    ignored = given if redis.layout == "cdc" else [n for n in given if n in TEMPLATE_ONLY]
    if redis.layout != "template" and ignored:
        layouts = "'template'" if ignored[0] in TEMPLATE_ONLY else "'template' or 'hash'"
        return f"redis.{ignored[0]} is for layout {layouts}, not {redis.layout!r}, which ignores it"
    if spec.index_attribute is None and redis.index_key is not None:
        return "redis.index_key needs an index_attribute: a table without one has no listing"
    if spec.index_attribute is None and redis.member is not None:
        return "redis.member needs an index_attribute: a table without one has no listing"
    keys = set(spec.key_attributes)
    wanted = {"key": keys, "index_key": {spec.partition_key}, "member": keys - {spec.partition_key}}
    for field, needed in wanted.items():
        template = getattr(redis, field)
        if template is not None and set(placeholders(template)) != needed:
            names = ", ".join(f"{{{n}}}" for n in sorted(needed))
            return f"redis.{field} {template!r} must name exactly {names}"
    if redis.value_attribute and redis.value_attribute in {*keys, spec.index_attribute}:
        return "redis.value_attribute must be a data attribute other than the index"
    return _expiry_unheld(spec)


def _expiry_unheld(spec: TableSpec) -> str | None:
    """Why the template layout can never hold the table's expiry attribute, or None."""
    redis, expiry = spec.redis, spec.expiry
    if redis.layout != "template" or not redis.value_attribute or not (expiry and expiry.attribute):
        return None
    held = {spec.index_attribute}
    if redis.value_format == "json":  # a text value is never a number
        held.add(redis.value_attribute)
    if expiry.attribute in held:
        return None
    return (
        f"expiry.attribute {expiry.attribute!r} is never held by the template layout, which "
        f"keeps only {redis.value_attribute!r} (as {redis.value_format})"
        + (f" and the index {spec.index_attribute!r}" if spec.index_attribute else "")
        + ": every upsert carrying it would be refused; leave redis.value_attribute unset (the "
        "data as JSON) or declare expiry.lifetime_seconds"
    )


def feed_topics(tables: Mapping[str, TableSpec], changes_topic: str) -> list[str]:
    """Every topic the worker consumes: the changes topic, and each declared table's."""
    return sorted({changes_topic, *(spec.feed_topic(changes_topic) for spec in tables.values())})


def check_topic_formats(tables: Mapping[str, TableSpec], changes_topic: str) -> None:
    """A topic is read in one format (the decoder is chosen by topic), and the changes topic
    is always cdc-v1: `verify --repair` and `dlq replay` publish there for every table."""
    formats: dict[str, str] = {changes_topic: "cdc-v1"}
    for name, spec in tables.items():
        topic = spec.feed_topic(changes_topic)
        if formats.setdefault(topic, spec.format) != spec.format:
            raise ValueError(
                f"{name}: topic {topic!r} is read as {formats[topic]}, not {spec.format}"
            )


def check_sources(tables: Mapping[str, TableSpec]) -> None:
    """Tables may share a `source`: each record of it feeds all of them (one PostgreSQL table
    fanned out to several DynamoDB tables, say). They must then name different DynamoDB tables,
    or both would write the same items."""
    seen: dict[tuple[str, str], str] = {}
    for name, spec in tables.items():
        if spec.source is None:
            continue
        physical = (spec.source, spec.physical_name(name))
        other = seen.setdefault(physical, name)
        if other != name:
            raise ValueError(
                f"{name}: tables {other!r} and {name!r} both read source {spec.source!r} into"
                f" DynamoDB table {physical[1]!r}: give one of them another dynamodb_table"
            )


OPPONENTS = TableSpec(
    partition_key="owner_id",
    sort_key="opponent_id",
    dynamodb_table="opponents",
    index_attribute="timestamp",
)

DEFAULT_TABLES = {"opponents": OPPONENTS}
