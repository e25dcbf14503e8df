"""`init --fix`: bring an existing changes topic to the project's settings (compacted, deletes
kept for the tombstone grace period, at least CDC_TOPIC_PARTITIONS partitions).

Kafka's AlterConfigs (the only one aiokafka speaks) replaces all of a topic's own settings, so
the topic's other overrides are read and sent back unchanged. Adding partitions moves where new
events of an item go; its older events stay in the old partition, which LWW makes harmless.
History a topic has already lost is not brought back.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, for_code

from streams.kafka.clients import Kafka
from streams.kafka.topic_health import config_entries
from streams.kafka.topics import MissingTopicError, kafka_admin, partitions_of
from streams.model.errors import ReplicatorError
from streams.settings_parts import KafkaSettings, TopicSettings

DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs v1+: a setting made on the topic itself


def config_changes(config: Mapping[str, str], wanted: TopicSettings) -> dict[str, str]:
    """The settings to change so the topic keeps its promises (never lowering one)."""
    changes = {}
    if config.get("cleanup.policy") != "compact":
        changes["cleanup.policy"] = "compact"
    grace_ms = wanted.tombstone_grace_seconds * 1000
    if int(config.get("delete.retention.ms", 0)) < grace_ms:
        changes["delete.retention.ms"] = str(grace_ms)
    return changes


async def fix_topic(kafka: KafkaSettings, wanted: TopicSettings) -> list[str]:
    """What was changed, one line each; [] when the topic is fine or missing (init creates it
    right)."""
    topic = wanted.name
    async with kafka_admin(Kafka.of(kafka)) as admin:
        try:
            partitions = await partitions_of(admin, topic)
        except MissingTopicError:
            return []
        entries = await _config_entries(admin, topic)
        changes = config_changes({e[0]: e[1] for e in entries if e[1] is not None}, wanted)
        if changes:
            await _alter(admin, topic, {**_overrides(entries, topic), **changes})
        done = [f"{name}={value}" for name, value in changes.items()]
        if len(partitions) < wanted.partitions:
            await _add_partitions(admin, topic, wanted.partitions)
            done.append(f"partitions {len(partitions)} -> {wanted.partitions}")
    return done


async def _config_entries(admin: AIOKafkaAdminClient, topic: str) -> Sequence[Any]:
    entries, refused = await config_entries(admin, topic)
    if refused:
        raise ReplicatorError(f"reading topic {topic}'s settings failed: {refused}")
    return entries


def _overrides(entries: Sequence[Any], topic: str) -> dict[str, str]:
    """The topic's own settings: (name, value, read_only, is_default (v0) or source (v1+), ...)."""
    own = {}
    for name, value, _read_only, default_or_source, *_ in entries:
        if isinstance(default_or_source, bool):
            is_own = not default_or_source
        else:
            is_own = default_or_source == DYNAMIC_TOPIC_CONFIG
        if is_own and value is None:  # a secret Kafka does not send back: it would be lost
            raise ReplicatorError(
                f"topic {topic} has a secret setting {name} that cannot be kept; "
                "fix the topic with kafka-configs.sh instead"
            )
        if is_own:
            own[name] = value
    return own


async def _alter(admin: AIOKafkaAdminClient, topic: str, config: dict[str, str]) -> None:
    responses = await admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic, configs=config)]
    )
    for response in responses:
        for code, message, *_ in response.resources:
            if code:
                raise ReplicatorError(
                    f"changing topic {topic}'s settings failed: {for_code(code).__name__} "
                    f"{message or ''}".strip()
                )


async def _add_partitions(admin: AIOKafkaAdminClient, topic: str, total: int) -> None:
    try:
        await admin.create_partitions({topic: NewPartitions(total_count=total)})
    except KafkaError as exc:
        raise ReplicatorError(
            f"adding partitions to topic {topic} failed: {type(exc).__name__}"
        ) from exc
