"""A private PostgreSQL (Debian's packages) with `wal_level=logical`, on a free loopback port.

PostgreSQL refuses to run as root: as root, the server runs as `nobody`, in a folder it owns
under the system's temporary folder (pytest's own is private to root).
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.devstack.process import free_port, wait_until

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "nobody" if os.geteuid() == 0 else None


@dataclass
class Postgres:
    port: int
    folder: Path

    def psql(self, sql: str) -> str:
        argv = [str(BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d",
                "postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    def json(self, sql: str) -> Any:
        """The one JSON value `sql` selects."""
        return json.loads(self.psql(sql))


@contextmanager
def postgres() -> Iterator[Postgres]:
    assert (BIN / "postgres").exists(), f"no {BIN}/postgres: `make postgres` installs it"
    with tempfile.TemporaryDirectory(prefix="cdc-postgres-") as name:
        folder = Path(name)
        if USER:
            shutil.chown(folder, USER)
        with _server(folder) as server:
            yield server


@contextmanager
def _server(folder: Path) -> Iterator[Postgres]:
    data = folder / "data"
    initdb = subprocess.run(
        [BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        user=USER, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert initdb.returncode == 0, f"initdb failed: {initdb.stderr}"
    port = free_port()
    settings = [f"port={port}", "listen_addresses=127.0.0.1", f"unix_socket_directories={folder}",
                "wal_level=logical", "max_wal_senders=4", "max_replication_slots=4",
                "fsync=off", "shared_buffers=32MB"]  # fmt: skip
    log = (folder / "postgres.log").open("wb")
    argv = [str(BIN / "postgres"), "-D", str(data)]
    for setting in settings:
        argv += ["-c", setting]
    server = subprocess.Popen(argv, user=USER, stdout=log, stderr=subprocess.STDOUT)
    try:
        ready = [str(BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
        assert wait_until(lambda: subprocess.run(ready, check=False).returncode == 0, 30), (
            folder / "postgres.log"
        ).read_text()
        yield Postgres(port, folder)
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown
        server.wait(30)
        log.close()
