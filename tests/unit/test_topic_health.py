"""The changes topic's checks without Kafka: the settings rules, lost history, and a describe
that answers with an error code (retried or raised, never read as "no partitions")."""

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from streams.kafka.clients import Kafka
from streams.kafka.topic_fix import _overrides, config_changes
from streams.kafka.topic_health import TopicState, check_topic, lost_history, warnings
from streams.kafka.topics import MissingTopicError, TopicUnavailableError, partitions_of
from streams.model.errors import ReplicatorError
from streams.settings import Settings

LEADER_NOT_AVAILABLE, TOPIC_AUTHORIZATION_FAILED = 5, 29
SETTINGS = Settings(topic="changes", topic_partitions=6, tombstone_grace_seconds=604_800)
GOOD = {"cleanup.policy": "compact", "delete.retention.ms": "604800000"}


def test_a_topic_made_as_init_does_gives_no_warning() -> None:
    assert warnings(TopicState("changes", list(range(6)), GOOD), SETTINGS.changes, "b:9092") == []


def test_each_wrong_setting_gives_a_line_naming_it_and_the_fix() -> None:
    auto_created = {"cleanup.policy": "delete", "delete.retention.ms": "86400000"}
    lines = warnings(TopicState("changes", [0], auto_created), SETTINGS.changes, "b:9092")
    policy, partitions, retention = lines
    assert "cleanup.policy=delete, not compact" in policy
    assert "--entity-name changes --add-config cleanup.policy=compact" in policy
    assert "1 partition, fewer than CDC_TOPIC_PARTITIONS=6" in partitions
    assert "--topic changes --partitions 6" in partitions
    assert "delete.retention.ms=86400000" in retention
    assert "CDC_TOMBSTONE_GRACE_SECONDS=604800" in retention
    assert "delete.retention.ms=604800000" in retention
    compact_and_delete = {**GOOD, "cleanup.policy": "compact,delete"}
    [line] = warnings(
        TopicState("changes", list(range(6)), compact_and_delete), SETTINGS.changes, "b"
    )
    assert "cleanup.policy=compact,delete" in line


def test_settings_that_could_not_be_read_give_no_false_alarm() -> None:
    assert warnings(TopicState("changes", list(range(6)), {}), SETTINGS.changes, "b:9092") == []


def test_lost_history_is_a_log_not_starting_at_zero_where_the_replay_starts() -> None:
    assert lost_history({0: 0, 1: 0}, {0: 0, 1: 0}) == {}
    assert lost_history({0: 0, 1: 40}, {0: 0, 1: 40}) == {1: 40}
    # From a time whose first record is past what was deleted: nothing needed was lost.
    assert lost_history({0: 40}, {0: 55}) == {}


class FakeAdmin:
    """Answers describe_topics with the given topic entries, one list per call."""

    def __init__(self, *answers: list[dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def describe_topics(self, topics: list[str] | None = None) -> list[dict[str, Any]]:
        assert topics is None  # naming the topic would auto-create it on some brokers
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1]


def topic(code: int, partitions: int) -> list[dict[str, Any]]:
    entries = [{"partition": n, "error_code": 0} for n in range(partitions)]
    return [{"topic": "changes", "error_code": code, "partitions": entries}]


def describe(admin: FakeAdmin, patience: float = 5.0) -> list[int]:
    return asyncio.run(partitions_of(admin, "changes", patience))


def test_a_retriable_error_code_is_retried_until_the_partitions_come() -> None:
    admin = FakeAdmin(topic(LEADER_NOT_AVAILABLE, 0), topic(0, 0), topic(0, 1))
    assert describe(admin) == [0]
    assert admin.calls == 3


def test_an_error_that_persists_is_raised_never_read_as_no_partitions() -> None:
    with pytest.raises(TopicUnavailableError, match="LeaderNotAvailableError"):
        describe(FakeAdmin(topic(LEADER_NOT_AVAILABLE, 0)), patience=0.3)
    with pytest.raises(TopicUnavailableError, match="no partitions"):
        describe(FakeAdmin(topic(0, 0)), patience=0.3)


def test_a_non_retriable_error_is_raised_at_once() -> None:
    admin = FakeAdmin(topic(TOPIC_AUTHORIZATION_FAILED, 0))
    with pytest.raises(ReplicatorError, match="TopicAuthorizationFailedError"):
        describe(admin)
    assert admin.calls == 1


def test_a_missing_topic_says_to_run_init() -> None:
    with pytest.raises(MissingTopicError, match="create it with `cdc-replicator init`"):
        describe(FakeAdmin([{"topic": "other", "error_code": 0, "partitions": []}]))


class NoConfigRightsAdmin(FakeAdmin):
    """Describes the topic, but refuses DescribeConfigs (a principal without that right)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def describe_configs(self, resources: list[Any]) -> list[Any]:
        resource: tuple[Any, ...] = (TOPIC_AUTHORIZATION_FAILED, "denied", 2, "changes", [])
        return [SimpleNamespace(resources=[resource])]


def test_settings_the_broker_refuses_to_show_are_a_warning_not_a_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Kafka, "admin", lambda _: NoConfigRightsAdmin(topic(0, 6)))
    lines: list[str] = []
    state = asyncio.run(check_topic(SETTINGS.kafka, SETTINGS.changes, warn=lines.append))
    assert state.partitions == list(range(6))
    assert lines == [
        "topic changes's settings could not be read (TopicAuthorizationFailedError): not checked"
    ]


def test_init_fix_changes_only_what_breaks_a_promise_and_never_lowers_one() -> None:
    assert config_changes(GOOD, SETTINGS.changes) == {}
    longer = {"cleanup.policy": "compact", "delete.retention.ms": "999999999999"}
    assert config_changes(longer, SETTINGS.changes) == {}
    auto_created = {"cleanup.policy": "delete", "delete.retention.ms": "86400000"}
    assert config_changes(auto_created, SETTINGS.changes) == GOOD


def test_init_fix_keeps_the_topics_own_settings_from_either_describe_version() -> None:
    v0 = [("retention.ms", "5", False, False, False), ("segment.ms", "9", False, True, False)]
    no_synonyms: list[Any] = []
    v1 = [
        ("retention.ms", "5", False, 1, False, no_synonyms),
        ("segment.ms", "9", False, 5, False, no_synonyms),
    ]
    assert _overrides(v0, "changes") == _overrides(v1, "changes") == {"retention.ms": "5"}
    with pytest.raises(ReplicatorError, match="secret setting x"):
        _overrides([("x", None, False, 1, True, [])], "changes")
