"""Session services: a real Kafka broker, redis-server and moto's DynamoDB API on free ports,
and dynalite (a second DynamoDB implementation) once a test asks for it.

They run under a temporary folder and are stopped at the end, so a stack the user has running
is never touched. To test against services you already run, set CDC_TEST_KAFKA_BOOTSTRAP,
CDC_TEST_REDIS_URL and CDC_TEST_DYNAMODB_ENDPOINT (and CDC_TEST_DYNALITE_ENDPOINT).

A module marked `emulators` runs each of its tests against moto and against dynalite: the
`services` it gets point at one or the other. Where the two differ from AWS's API reference,
the project follows the reference.
"""

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from streams.devstack.manager import Stack, private_stack
from streams.devstack.process import free_port, wait_until
from streams.devstack.services import DynaliteService
from streams.model.tables import OPPONENTS, TableSpec
from streams.settings import Settings

PROJECT = Path(__file__).resolve().parent.parent
EMULATORS = ("moto", "dynalite")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "emulators: run each test against moto and dynalite (DynamoDB API)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests of a module marked `emulators` run once per DynamoDB implementation: `services`
    is parametrized by it (session scope: pytest groups the tests by it)."""
    marker = metafunc.definition.get_closest_marker("emulators")
    if marker and "services" in metafunc.fixturenames:  # emulators("dynalite"): that one only
        metafunc.parametrize("services", marker.args or EMULATORS, indirect=True)


@pytest.fixture(scope="session", autouse=True)
def _no_user_settings() -> Iterator[None]:
    """A user's CDC_* variables must not leak into tests (they may point at their stack)."""
    saved = {
        k: os.environ.pop(k) for k in list(os.environ) if k.startswith("CDC_") and "TEST" not in k
    }
    yield
    os.environ.update(saved)


@dataclass
class Services:
    kafka_bootstrap: str
    redis_url: str
    dynamodb_endpoint: str
    tmp: Path
    stack: Stack | None = None  # None when the services are the user's (CDC_TEST_*)
    dynamodb_pid: int | None = None  # the DynamoDB API's process, when the session started it

    def settings(self, **overrides: Any) -> Settings:
        """Settings for one test: its own topic, group, key prefix and DynamoDB table."""
        suffix = uuid.uuid4().hex[:10]
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.kafka_bootstrap,
            "redis_url": self.redis_url,
            "dynamodb_endpoint_url": self.dynamodb_endpoint,
            "topic": f"changes-{suffix}",
            "group_id": f"cdc-test-{suffix}",
            "redis_key_prefix": f"t{suffix}",
            "tables": {
                "opponents": OPPONENTS.model_copy(update={"dynamodb_table": f"opponents-{suffix}"})
            },
            "topic_partitions": 3,
            "web_enabled": False,
            "data_dir": str(self.tmp / f"worker-{suffix}"),
            "batch_max_seconds": 0.2,
            "retry_max_backoff_seconds": 1.0,
            "kafka_session_timeout_seconds": 6.0,
        }
        values.update(overrides)
        return Settings(**values)

    def env(self, settings: Settings) -> dict[str, str]:
        """The same settings as CDC_* variables, for a worker in a subprocess."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDC_")}
        return env | settings.as_env()


@pytest.fixture(scope="session")
def services(request: pytest.FixtureRequest, _stack: Services) -> Services:
    """The session's services, with moto's DynamoDB API unless the test is one of a module
    marked `emulators` run against dynalite."""
    if getattr(request, "param", "moto") == "moto":
        return _stack
    endpoint, pid = request.getfixturevalue("dynalite")
    return replace(_stack, dynamodb_endpoint=endpoint, dynamodb_pid=pid)


@pytest.fixture(scope="session")
def _stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    tmp = tmp_path_factory.mktemp("stack")
    external = os.environ.get("CDC_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield Services(
            external,
            os.environ["CDC_TEST_REDIS_URL"],
            os.environ["CDC_TEST_DYNAMODB_ENDPOINT"],
            tmp,
        )
        return
    with private_stack(tmp, PROJECT / ".cache") as (settings, stack):
        moto = next(s for s in stack.services if s.name == "dynamodb")
        yield Services(
            settings.kafka_bootstrap_servers,
            settings.redis_url,
            settings.dynamodb_endpoint_url,
            tmp,
            stack,
            moto.process().pid(),
        )


@pytest.fixture(scope="session")
def dynalite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int | None]]:
    """dynalite on a free port (installed into the project's cache by npm on first use): its
    endpoint and pid."""
    external = os.environ.get("CDC_TEST_DYNALITE_ENDPOINT")
    if external:
        yield external, None
        return
    service = DynaliteService(free_port(), tmp_path_factory.mktemp("dynalite"), PROJECT / ".cache")
    service.prepare()
    process = service.process()
    process.start()
    try:
        if not wait_until(lambda: process.pid() is None or service.ready(), 60, interval=0.2):
            pytest.fail(f"dynalite did not answer in 60 s:\n{process.log_tail()}")
        if process.pid() is None:
            pytest.fail(f"dynalite exited while starting:\n{process.log_tail()}")
        yield f"http://127.0.0.1:{service.port}", process.pid()
    finally:
        process.stop()


@pytest.fixture
def settings(services: Services) -> Settings:
    return services.settings()


@pytest.fixture
def opponents(settings: Settings) -> TableSpec:
    return settings.tables["opponents"]
