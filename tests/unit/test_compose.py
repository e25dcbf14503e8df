"""docker-compose.yml cannot run here; keep it parseable and in step with the local stack."""

from pathlib import Path
from typing import Any

import yaml

from streams.devstack.connect import distributed_config
from streams.settings import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def load() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_services_and_host_ports_match_the_local_stack() -> None:
    services = load()["services"]
    defaults = Settings()
    expected = {
        "kafka": defaults.stack.kafka_port,
        "redis": defaults.stack.redis_port,
        "dynamodb": defaults.stack.dynamodb_port,
        "worker": defaults.web_port,
        "postgres": defaults.stack.postgres_port,
        "connect": defaults.stack.connect_port,
    }
    for name, port in expected.items():
        ports = services[name]["ports"]
        assert f"127.0.0.1:{port}:{port}" in ports, (name, ports)


def test_worker_variables_are_real_settings() -> None:
    env = load()["services"]["worker"]["environment"]
    fields = {f"CDC_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    assert load()["services"]["worker"]["command"] == ["cdc-replicator", "worker"]


def test_the_worker_healthcheck_asks_health_on_its_web_port() -> None:
    worker = load()["services"]["worker"]
    check = " ".join(worker["healthcheck"]["test"])
    port = worker["environment"]["CDC_WEB_PORT"]
    assert f"http://127.0.0.1:{port}/health" in check


def test_postgres_and_connect_are_optional_as_in_the_local_stack() -> None:
    """`stack up --with-postgres` is an option: in compose, a profile."""
    services = load()["services"]
    optional = {name for name, service in services.items() if service.get("profiles")}
    assert optional == {"postgres", "connect"}
    assert all(services[name]["profiles"] == ["debezium"] for name in optional)
    assert "wal_level=logical" in services["postgres"]["command"]


def test_the_broker_never_auto_creates_topics_as_in_the_local_stack() -> None:
    """A send to a missing changes topic must fail, not make it with 1 partition and deletion."""
    environment = load()["services"]["kafka"]["environment"]
    assert environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


# The Debezium image's own names for some Connect settings; CONNECT_A_B is a.b.
IMAGE_NAMES = {"BOOTSTRAP_SERVERS": "bootstrap.servers", "GROUP_ID": "group.id",
               "CONFIG_STORAGE_TOPIC": "config.storage.topic",
               "OFFSET_STORAGE_TOPIC": "offset.storage.topic",
               "STATUS_STORAGE_TOPIC": "status.storage.topic", "KEY_CONVERTER": "key.converter",
               "VALUE_CONVERTER": "value.converter",
               "OFFSET_FLUSH_INTERVAL_MS": "offset.flush.interval.ms"}  # fmt: skip


def test_connect_runs_distributed_with_the_local_stacks_settings() -> None:
    """Same group, topics, converters and settings as `stack up --with-postgres`; only where
    it listens and finds its plugins differ."""
    environment = load()["services"]["connect"]["environment"]
    compose = {
        IMAGE_NAMES.get(name) or name.removeprefix("CONNECT_").lower().replace("_", "."): value
        for name, value in environment.items()
    }
    local = distributed_config(8083, "kafka:19092")
    for own in ("listeners", "rest.advertised.host.name", "rest.advertised.port",
                "plugin.discovery"):  # fmt: skip
        del local[own]
    assert compose == local
    worker = load()["services"]["worker"]["environment"]
    assert worker["CDC_CONNECT_URL"] == "http://connect:8083"
