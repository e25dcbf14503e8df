"""Lag arithmetic and the group status rules, without Kafka."""

from streams.kafka.lag import (
    GroupSample,
    PartitionLag,
    Status,
    group_status,
    partition_lag,
    worst_status,
)


def sample(committed: int, end: int, members: int = 1, at: int = 0) -> GroupSample:
    return GroupSample(at, members, [PartitionLag(0, committed, end, oldest_unconsumed_ms=1_000)])


def test_partition_lag() -> None:
    assert partition_lag(None, 10) == 10  # never committed: all of it
    assert partition_lag(7, 10) == 3
    assert partition_lag(12, 10) == 0


def test_lag_seconds_is_the_age_of_the_oldest_unconsumed_message() -> None:
    assert PartitionLag(0, 5, 9, oldest_unconsumed_ms=1_000).lag_seconds(now_ms=4_500) == 3.5
    assert PartitionLag(0, 9, 9, oldest_unconsumed_ms=1_000).lag_seconds(now_ms=4_500) == 0


def test_caught_up_is_ok() -> None:
    assert group_status([sample(10, 10), sample(20, 20)]) is Status.OK


def test_lag_going_down_is_ok() -> None:
    assert group_status([sample(10, 50), sample(40, 60)]) is Status.OK


def test_commits_moving_but_lag_not_going_down_is_lagging() -> None:
    assert group_status([sample(10, 50), sample(20, 70)]) is Status.LAGGING


def test_no_commit_progress_with_lag_is_stalled() -> None:
    assert group_status([sample(10, 50), sample(10, 50)]) is Status.STALLED


def test_a_stopped_consumer_never_looks_healthy() -> None:
    assert group_status([sample(10, 10, members=0), sample(10, 10, members=0)]) is Status.STOPPED
    assert group_status([sample(10, 50, members=0)]) is Status.STOPPED


def test_the_worst_status_of_the_store_groups_is_the_one_shown() -> None:
    assert worst_status([Status.OK, Status.STALLED, Status.LAGGING]) is Status.STALLED
    assert worst_status([Status.OK, Status.STOPPED]) is Status.STOPPED
    assert worst_status([Status.OK, Status.OK]) is Status.OK
