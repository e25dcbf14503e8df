"""Security through CDC_ settings: Kafka SASL and SSL against a real broker, Redis TLS + AUTH.

The broker has a PLAINTEXT listener (between its own parts), a SASL_PLAINTEXT one offering
PLAIN and SCRAM-SHA-256/512 (SCRAM users written at storage format), and an SSL one with a
self-signed certificate made by openssl for 127.0.0.1. Each case runs the real worker and CLI
with only CDC_ variables telling them how to connect, and checks that the password never shows
in their output.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from streams.devstack.manager import Stack
from streams.devstack.process import ManagedProcess, free_port
from streams.devstack.services import KafkaService, RedisService
from streams.kafka.clients import Kafka
from streams.kafka.publisher import Publisher
from streams.pipeline.dlq_replay import read_letters
from streams.settings import Settings
from streams.stores import open_redis
from streams.worker.run import prepare
from tests.conftest import PROJECT, Services
from tests.support import upsert
from tests.support.password_redis import running
from tests.support.worker import WorkerProcess, write_direct

pytestmark = pytest.mark.integration

USER, PASSWORD = "alice", "alice-Secret-4711"
PLAIN_JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    f'username="{USER}" password="{PASSWORD}" user_{USER}="{PASSWORD}";'
)
SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


@dataclass(frozen=True)
class SecureBroker:
    sasl_port: int
    ssl_port: int
    ca_file: Path

    def settings(self, case: str) -> dict[str, Any]:
        if case == "ssl":
            return {
                "kafka_bootstrap_servers": f"127.0.0.1:{self.ssl_port}",
                "kafka_security_protocol": "SSL",
                "kafka_ssl_cafile": str(self.ca_file),
            }
        return {
            "kafka_bootstrap_servers": f"127.0.0.1:{self.sasl_port}",
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_sasl_mechanism": case,
            "kafka_sasl_username": USER,
            "kafka_sasl_password": PASSWORD,
        }


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    tmp = tmp_path_factory.mktemp("secure-kafka")
    cert, keystore = _self_signed_certificate(tmp)
    sasl_port, ssl_port = free_port(), free_port()
    scram = [f"SCRAM-SHA-{bits}=[name={USER},password={PASSWORD}]" for bits in (256, 512)]
    kafka = KafkaService(
        port=free_port(),
        controller_port=free_port(),
        state_dir=tmp,
        cache_dir=PROJECT / ".cache",
        extra_listeners={"SASL_PLAINTEXT": sasl_port, "SSL": ssl_port},
        extra_config={
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
            "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": SCRAM_JAAS,
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": SCRAM_JAAS,
            "listener.name.ssl.ssl.keystore.type": "PEM",
            "listener.name.ssl.ssl.keystore.location": str(keystore),
        },
        format_args=[arg for user in scram for arg in ("--add-scram", user)],
    )
    stack = Stack([kafka])
    try:
        stack.up(report=lambda line: None)
        yield SecureBroker(sasl_port, ssl_port, cert)
    finally:
        stack.down(report=lambda line: None)


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "broker-cert.pem", folder / "broker-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    keystore = folder / "broker-keystore.pem"  # Kafka's PEM keystore: the key, then the chain
    keystore.write_text(key.read_text() + cert.read_text())
    return cert, keystore


@pytest.mark.parametrize("case", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "ssl"])
def test_worker_and_cli_connect_through_security_settings(
    case: str, secure_broker: SecureBroker, services: Services, tmp_path: Path
) -> None:
    settings = services.settings(**secure_broker.settings(case))
    event = upsert("owner", "opponent", 1)
    asyncio.run(_publish_valid_and_malformed(settings, event))
    worker = WorkerProcess(services, settings, tmp_path / "worker.log", stores="redis")
    worker.env |= _secret_env(settings)
    worker.start()
    try:
        assert _eventually(lambda: asyncio.run(_redis_holds(settings, event))), worker.log_tail()
        # The dead letter went out through Faust's producer, with the same credentials.
        assert _eventually(lambda: len(asyncio.run(_letters(settings))) == 1), worker.log_tail()
    finally:
        worker.stop()
    # The CLI's admin client and consumer connect the same way (the group stopped: exit 1).
    lag = _cli(["lag", "--json"], services.env(settings) | _secret_env(settings))
    assert json.loads(lag.stdout)["status"] == "STOPPED", lag.stdout + lag.stderr
    assert PASSWORD not in worker.log.read_text() + lag.stdout + lag.stderr


def test_a_wrong_password_is_a_clear_error_that_does_not_echo_it(
    secure_broker: SecureBroker, services: Services
) -> None:
    wrong = "not-" + PASSWORD
    settings = services.settings(**secure_broker.settings("PLAIN") | {"kafka_sasl_password": wrong})
    env = services.env(settings) | _secret_env(settings)
    line = '{"table": "opponents", "op": "upsert", "key": {"owner_id": "o", "opponent_id": "p"}, '
    line += '"data": {"metadata": "m", "timestamp": 1}, "ts": 1, "origin": "t", "event_id": "e"}\n'
    done = _cli(["publish", "-"], env, stdin=line)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "authentication" in output.lower(), output
    assert wrong not in output


def _secret_env(settings: Settings) -> dict[str, str]:
    """as_env leaves secrets out on purpose; a deployment passes them like this."""
    password = settings.kafka_sasl_password
    return {"CDC_KAFKA_SASL_PASSWORD": password.get_secret_value()} if password else {}


async def _publish_valid_and_malformed(settings: Settings, event: Any) -> None:
    await prepare(settings, ["redis"])
    async with Publisher(Kafka.of(settings.kafka), settings.topic, settings.tables, "tests") as pub:
        await pub.publish([event])
        await pub.send_raw(b"{not json", key=b"bad")


async def _redis_holds(settings: Settings, event: Any) -> bool:
    store = open_redis(settings)
    try:
        return await store.get("opponents", event.key) is not None
    finally:
        await store.close()


async def _letters(settings: Settings) -> list[Any]:
    return [letter async for letter in read_letters(settings.kafka, settings.changes)]


def _eventually(check: Any, within: float = 60) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def _cli(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "streams.cli.main", *args]
    return subprocess.run(argv, env=env | {"PATH": os.environ["PATH"]}, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


class TlsRedis(RedisService):
    """redis-server answering only TLS on its port, with a password (AUTH)."""

    def __init__(self, port: int, state_dir: Path, cert: Path, key: Path) -> None:
        super().__init__(port, state_dir)
        self.cert, self.key = cert, key

    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.cert}"

    def process(self) -> ManagedProcess:
        proc = super().process()
        plain = proc.argv.index("--port")
        proc.argv[plain : plain + 2] = ["--port", "0", "--tls-port", str(self.port)]
        proc.argv += ["--tls-cert-file", str(self.cert), "--tls-key-file", str(self.key),
                      "--tls-ca-cert-file", str(self.cert), "--tls-auth-clients", "no",
                      "--requirepass", PASSWORD]  # fmt: skip
        return proc

    def ready(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url(), password=PASSWORD).ping())
        except (redis.exceptions.RedisError, OSError):
            return False


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedis]:
    cert, _ = _self_signed_certificate(tmp_path)
    with running(TlsRedis(free_port(), tmp_path, cert, tmp_path / "broker-key.pem")) as service:
        yield service


def test_redis_over_tls_with_a_password(
    tls_redis: TlsRedis, services: Services, tmp_path: Path
) -> None:
    """rediss:// with the CA in the URL and CDC_REDIS_PASSWORD: the store writes and reads back;
    a wrong password is refused without being echoed."""
    settings = services.settings(redis_url=tls_redis.url(), redis_password=PASSWORD)
    event = upsert("owner", "opponent", 1)
    asyncio.run(write_direct(settings, "redis", [event]))
    assert asyncio.run(_redis_holds(settings, event))
    wrong = settings.model_copy(update={"redis_password": SecretStr("not-" + PASSWORD)})
    with pytest.raises(redis.exceptions.AuthenticationError) as refused:
        asyncio.run(_redis_holds(wrong, event))
    assert PASSWORD not in str(refused.value)
