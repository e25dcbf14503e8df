"""Session services: a real Kafka broker, redis-server and moto's DynamoDB API on free ports.

They run under a temporary folder and are stopped at the end, so a stack the user has running
is never touched. To test against services you already run, set CDC_TEST_KAFKA_BOOTSTRAP,
CDC_TEST_REDIS_URL and CDC_TEST_DYNAMODB_ENDPOINT.
"""

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from streams.devstack.manager import Stack, private_stack
from streams.model.tables import OPPONENTS, TableSpec
from streams.settings import Settings

PROJECT = Path(__file__).resolve().parent.parent


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
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
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
        yield Services(
            settings.kafka_bootstrap_servers,
            settings.redis_url,
            settings.dynamodb_endpoint_url,
            tmp,
            stack,
        )


@pytest.fixture
def settings(services: Services) -> Settings:
    return services.settings()


@pytest.fixture
def opponents(settings: Settings) -> TableSpec:
    return settings.tables["opponents"]
