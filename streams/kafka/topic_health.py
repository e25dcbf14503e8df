"""Is the changes topic fit to rebuild a store from? The worker, `rebuild` and `dlq replay`
ask at start.

The topic is the copy that rebuilds a store, so it must keep every item's latest event forever
(compacted, not deleted by retention), have the partitions that let workers scale out, and keep
delete markers as long as the stores keep tombstones. The rules are pure functions (`warnings`,
`lost_history`); `check_topic` reads what they need from the broker.
"""

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

from streams.kafka.clients import Kafka
from streams.kafka.topics import kafka_admin, partitions_of
from streams.model.numbers import counted
from streams.settings_parts import KafkaSettings, TopicSettings


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: list[int]
    config: Mapping[str, str]  # cleanup.policy, delete.retention.ms, ...


def warnings(state: TopicState, changes: TopicSettings, bootstrap: str) -> list[str]:
    """One line per setting that breaks a promise, naming the setting and the fix (each is
    also what `cdc-replicator init --fix` does)."""
    alter = (
        f"kafka-configs.sh --bootstrap-server {bootstrap} --alter --entity-type topics "
        f"--entity-name {state.name} --add-config"
    )
    found = []
    policy = state.config.get("cleanup.policy", "compact")  # unreadable: warned about apart
    if policy != "compact":
        found.append(
            f"topic {state.name} has cleanup.policy={policy}, not compact: it drops history "
            f"after retention.ms, and a rebuild would then restore only part of the data; "
            f"fix: {alter} cleanup.policy=compact"
        )
    if len(state.partitions) < changes.partitions:
        found.append(
            f"topic {state.name} has {counted(len(state.partitions), 'partition')}, fewer than "
            f"CDC_TOPIC_PARTITIONS={changes.partitions}: no more workers than that can "
            f"share the work; fix: kafka-topics.sh --bootstrap-server {bootstrap} --alter "
            f"--topic {state.name} --partitions {changes.partitions}"
        )
    grace_ms = changes.tombstone_grace_seconds * 1000
    kept_ms = int(state.config.get("delete.retention.ms", grace_ms))
    if kept_ms < grace_ms:
        found.append(
            f"topic {state.name} has delete.retention.ms={kept_ms}, shorter than "
            f"CDC_TOMBSTONE_GRACE_SECONDS={changes.tombstone_grace_seconds}: a replay could "
            f"miss deletes the stores still remember; fix: {alter} delete.retention.ms={grace_ms}"
        )
    return [f"{line} (or: cdc-replicator init --fix)" for line in found]


def lost_history(earliest: Mapping[int, int], starts: Mapping[int, int]) -> dict[int, int]:
    """Partitions (-> earliest offset) where a replay from `starts` misses records: the log no
    longer begins at 0 (retention or delete-records removed the oldest) and the replay would
    begin at its first record left, so what was removed may have been needed."""
    return {p: first for p, first in earliest.items() if first > 0 and starts[p] <= first}


def warn_on_stderr(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


async def check_topic(
    kafka_settings: KafkaSettings,
    changes: TopicSettings,
    warn: Callable[[str], None] = warn_on_stderr,
) -> TopicState:
    """Describe the changes topic and `warn` about each setting that breaks a promise.
    A missing topic raises MissingTopicError: nothing here creates one."""
    kafka = Kafka.of(kafka_settings)
    async with kafka_admin(kafka) as admin:
        partitions = await partitions_of(admin, changes.name)
        config, refused = await topic_config(admin, changes.name)
    if refused:  # no DescribeConfigs right, say: not worth refusing to work over
        warn(f"topic {changes.name}'s settings could not be read ({refused}): not checked")
    state = TopicState(changes.name, partitions, config)
    for line in warnings(state, changes, kafka.bootstrap):
        warn(line)
    return state


async def topic_config(admin: AIOKafkaAdminClient, topic: str) -> tuple[dict[str, str], str]:
    """The topic's settings, or ({}, why not) when the broker refuses to tell."""
    entries, refused = await config_entries(admin, topic)
    return {entry[0]: entry[1] for entry in entries if entry[1] is not None}, refused


async def config_entries(admin: AIOKafkaAdminClient, topic: str) -> tuple[list[Any], str]:
    """The topic's config entries as Kafka sends them, or ([], why not) when it refuses."""
    [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    [(code, _message, _type, _name, entries, *_)] = response.resources
    return ([], for_code(code).__name__) if code else (list(entries), "")
