"""A cache folder is filled by one process at a time: two test workers (or a stack started
beside the tests) must not both run Maven or npm into it."""

import fcntl
from pathlib import Path

import pytest

from streams.devstack.services import fetching


def lock_taken(folder: Path) -> bool:
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def test_a_folder_being_filled_is_locked_until_done(tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "kafka-4.0.0"
    with fetching(folder):
        assert lock_taken(folder)  # another open file description, as another process has
    assert not lock_taken(folder)


def test_the_lock_is_let_go_when_filling_fails(tmp_path: Path) -> None:
    folder = tmp_path / "lib"
    with pytest.raises(RuntimeError), fetching(folder):
        raise RuntimeError("mvn failed")
    assert not lock_taken(folder)
