"""Clear failures when the worker starts, before it talks to any service."""

import asyncio
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from streams.model.errors import ConfigError
from streams.settings import Settings
from streams.worker.run import prepare_until_ready
from streams.worker.startup import ensure_port_free, ephemeral_ports


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


def test_kafka_down_at_start_is_waited_for_naming_the_address_and_its_variable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The worker waits for a broker that is not up yet, as for a store; a wrong address must
    show in what it says while waiting."""
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1", web_enabled=False)
    caplog.set_level(logging.WARNING, "streams.worker.startup")

    async def start() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(prepare_until_ready(settings, ()), 3)

    asyncio.run(start())
    waiting = [r.getMessage() for r in caplog.records if r.name == "streams.worker.startup"]
    assert waiting, caplog.text
    assert waiting[0].startswith(
        "waiting for Kafka at 127.0.0.1:1 (CDC_KAFKA_BOOTSTRAP_SERVERS) to answer"
    ), waiting[0]


@pytest.mark.parametrize("in_range", [True, False])
def test_a_taken_port_is_said_to_be_any_process_and_ephemeral_when_it_is(
    tmp_path: Path, in_range: bool
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ranges = tmp_path / "ip_local_port_range"
        ranges.write_text(f"{port - 10}\t{port + 10}\n" if in_range else f"{port + 1}\t{port + 9}")
        with pytest.raises(ConfigError) as refused:
            ensure_port_free("127.0.0.1", port, "CDC_WEB_PORT", ranges)
    said = str(refused.value)
    assert said.startswith(f"CDC_WEB_PORT: cannot listen on 127.0.0.1:{port} (Address already")
    assert "a socket of some process holds it" in said and "worker" not in said
    ephemeral = f"lies in this machine's ephemeral port range {port - 10}-{port + 10}"
    assert (ephemeral in said) is in_range, said
    assert said.endswith("outside it" if in_range else "choose another CDC_WEB_PORT")


def test_the_ephemeral_range_is_read_when_the_kernel_gives_it(tmp_path: Path) -> None:
    (tmp_path / "r").write_text("32768\t60999\n")
    assert ephemeral_ports(tmp_path / "r") == range(32768, 61000)
    assert ephemeral_ports(tmp_path / "missing") is None
