"""Clear failures when the worker starts, before it talks to any service."""

import os
import socket
import subprocess
import sys


def test_a_taken_web_port_is_one_line_naming_cdc_web_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDC_")}
        done = subprocess.run(
            [sys.executable, "-m", "streams.cli.main", "worker"],
            env=env | {"CDC_WEB_PORT": str(port), "CDC_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"error: CDC_WEB_PORT: cannot listen on 127.0.0.1:{port}")
