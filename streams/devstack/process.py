"""Start, find and stop one background service by its pid file: never anything we did not start."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from streams.model.errors import StackError

# Services outlive the command that starts them; holding their Popen objects lets this process
# reap them when it stops them itself, instead of leaving zombies or unclosed-process warnings.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass
class ManagedProcess:
    """A service process whose pid and log live under the stack folder."""

    name: str
    argv: list[str]
    state_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None  # run as this user (PostgreSQL refuses to run as root)
    stop_signal: signal.Signals = signal.SIGTERM  # the service's own fast, clean shutdown

    @property
    def pidfile(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid we recorded, if that process is still ours and alive."""
        try:
            pid = int(self.pidfile.read_text())
        except (FileNotFoundError, ValueError):
            return None
        _reap(pid)
        return pid if _alive(pid) and self._is_ours(pid) else None

    def _is_ours(self, pid: int) -> bool:
        """A recycled pid would run another program: compare executables, links resolved
        (`python` and `python3` of one virtualenv are the same program)."""
        try:
            running = os.path.realpath(f"/proc/{pid}/exe", strict=True)
        except OSError:
            return False
        return running == os.path.realpath(shutil.which(self.argv[0]) or self.argv[0])

    def start(self) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("ab") as log:
            proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                start_new_session=True,  # not killed by the terminal's Ctrl-C
                user=self.user,
            )
        _children[proc.pid] = proc
        self.pidfile.write_text(str(proc.pid))
        return proc.pid

    def stop(self, timeout: float = 30) -> bool:
        """`stop_signal`, then SIGKILL after `timeout`; True when a process of ours was stopped."""
        pid = self.pid()
        self.pidfile.unlink(missing_ok=True)
        if pid is None:
            return False
        _signal(pid, self.stop_signal)
        if not _wait_gone(pid, timeout):
            _signal(pid, signal.SIGKILL)
            _wait_gone(pid, 5)
        child = _children.pop(pid, None)
        if child is not None:
            child.wait(5)  # reap it: a dead child we started stays a zombie until we do
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    _reap(pid)


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _children[pid]
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _wait_gone(pid: int, timeout: float) -> bool:
    def gone() -> bool:
        _reap(pid)
        return not _alive(pid)

    return wait_until(gone, timeout, interval=0.1)


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll `check` until it holds or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def require(condition: bool, message: str) -> None:
    if not condition:
        raise StackError(message)
