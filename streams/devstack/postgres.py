"""PostgreSQL from Debian's packages with `wal_level=logical`: the database Debezium reads, for
`stack up --with-postgres` and the test session alike.

PostgreSQL refuses to run as root: as root, the cluster is initialised and run as `nobody`, in
a data folder it owns (every folder above it must let `nobody` through).
"""

import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.devstack.process import ManagedProcess, require

BIN = Path("/usr/lib/postgresql/15/bin")
RUN_AS = "nobody" if os.geteuid() == 0 else None
USER = "postgres"  # the superuser initdb creates; trust authentication, loopback only
# Each connector holds a slot and a WAL sender: PostgreSQL's default of 10 of each, not fewer.
SETTINGS = ["listen_addresses=127.0.0.1", "unix_socket_directories=", "wal_level=logical",
            "max_wal_senders=10", "max_replication_slots=10", "fsync=off",
            "shared_buffers=32MB"]  # fmt: skip


@dataclass
class PostgresService:
    """One cluster under `state_dir`, kept between `up`s like Kafka's data."""

    port: int
    state_dir: Path
    name: str = "postgres"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "postgres-data"

    def prepare(self) -> None:
        require((BIN / "postgres").exists(), f"no {BIN}/postgres: `make postgres` installs it")
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if RUN_AS:
            shutil.chown(self.data_dir, RUN_AS)
        argv = [str(BIN / "initdb"), "-D", str(self.data_dir.resolve()), "-U", USER,
                "--auth=trust", "-E", "UTF8"]  # fmt: skip
        done = subprocess.run(argv, user=RUN_AS, capture_output=True, text=True, check=False)
        require(done.returncode == 0, f"initdb failed (as {RUN_AS or 'you'}):\n{done.stderr}")

    def process(self) -> ManagedProcess:
        argv = [
            str(BIN / "postgres"),
            "-D",
            str(self.data_dir.resolve()),
            "-c",
            f"port={self.port}",
        ]
        for setting in SETTINGS:
            argv += ["-c", setting]
        # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for every client to leave.
        return ManagedProcess(
            self.name, argv, self.state_dir, user=RUN_AS, stop_signal=signal.SIGINT
        )

    def ready(self) -> bool:
        argv = [str(BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(argv, check=False).returncode == 0

    def psql(self, sql: str) -> str:
        """`sql`'s rows as psql prints them unaligned (tests and the README's examples)."""
        argv = [str(BIN / "psql"), *self.connection_args(), "-v", "ON_ERROR_STOP=1", "-qAt",
                "-c", sql]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    def json(self, sql: str) -> Any:
        """The one JSON value `sql` selects."""
        return json.loads(self.psql(sql))

    def connection_args(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", "postgres"]

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"
