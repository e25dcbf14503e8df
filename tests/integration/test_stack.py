"""The stack manager starts, finds and stops only what it started."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.devstack.manager import Stack
from streams.devstack.process import ManagedProcess, free_port, port_open, wait_until
from streams.devstack.services import RedisService
from streams.model.errors import StackError

pytestmark = pytest.mark.integration


def test_up_down_status_for_a_service(tmp_path: Path) -> None:
    port = free_port()
    stack = Stack([RedisService(port, tmp_path)])
    lines: list[str] = []
    [status] = stack.up(report=lines.append)
    assert status.healthy and status.pid
    assert (tmp_path / "redis.pid").read_text() == str(status.pid)
    [again] = stack.up(report=lines.append)
    assert again.pid == status.pid and "already running" in lines[-1]
    stack.down(report=lines.append)
    assert not port_open(port)
    assert stack.status()[0].healthy is False
    assert not (tmp_path / "redis.pid").exists()


def test_a_users_own_service_is_used_and_left_running(tmp_path: Path) -> None:
    port = free_port()
    theirs = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: port_open(port), 10)
        stack = Stack([RedisService(port, tmp_path / "mine")])
        lines: list[str] = []
        [status] = stack.up(report=lines.append)
        assert status.healthy and status.pid is None and "not managed" in lines[0]
        stack.down(report=lines.append)
        assert theirs.poll() is None and port_open(port)
    finally:
        theirs.terminate()
        theirs.wait(10)


def test_a_port_taken_by_something_else_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    squatter = subprocess.Popen(["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert wait_until(lambda: port_open(port), 10)
        with pytest.raises(StackError, match=f"port {port} is taken"):
            Stack([RedisService(port, tmp_path)]).up(report=lambda line: None)
    finally:
        squatter.terminate()
        squatter.wait(10)


def test_a_service_that_dies_at_start_shows_its_log(tmp_path: Path) -> None:
    class BrokenRedis(RedisService):
        def process(self) -> ManagedProcess:
            proc = super().process()
            proc.argv = [*proc.argv, "--no-such-option", "1"]
            return proc

    with pytest.raises(StackError, match="exited while starting") as caught:
        Stack([BrokenRedis(free_port(), tmp_path)]).up(timeout=20, report=lambda line: None)
    assert "no-such-option" in str(caught.value)


def test_a_process_is_recognised_whichever_name_started_it(tmp_path: Path) -> None:
    """`make demo` starts the worker as .venv/bin/python, `cdc-replicator stack down` runs as
    .venv/bin/python3: both must see the same process as theirs."""
    venv_bin = Path(sys.executable).parent
    sleeper = ["-c", "import time; time.sleep(60)"]
    started = ManagedProcess("sleeper", [str(venv_bin / "python"), *sleeper], tmp_path)
    pid = started.start()
    other = ManagedProcess("sleeper", [str(venv_bin / "python3"), *sleeper], tmp_path)
    assert other.pid() == pid
    assert other.stop() is True
    assert not started.pidfile.exists()
    impostor = ManagedProcess("sleeper", ["redis-server"], tmp_path)
    impostor.pidfile.write_text(str(os.getpid()))
    assert impostor.pid() is None
