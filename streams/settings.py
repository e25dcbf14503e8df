"""One frozen settings object, read from `CDC_*` environment variables."""

import json
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.errors import ConfigError
from streams.tables import DEFAULT_TABLES, TableSpec

ENV_PREFIX = "CDC_"
SEVEN_DAYS = 7 * 24 * 3600


class Settings(BaseSettings):
    """Everything the worker, the CLI and the local stack need to know.

    Ports of the local stack follow the client URLs, so one variable moves both.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic: str = "changes"
    topic_partitions: int = Field(default=6, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=7)
    group_id: str = "cdc-replicator"
    # How soon a crashed worker's partitions go to the others (heartbeats every tenth of it).
    kafka_session_timeout_seconds: float = Field(default=30.0, ge=6, le=300)
    # A member that does not poll for this long leaves its group; while a store is down the
    # worker pauses that store's partitions and keeps polling, so this never fires.
    kafka_max_poll_interval_seconds: float = Field(default=300.0, ge=1, le=3600)
    # Broker security, for every Kafka client we open (worker, CLI, publisher, admin).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None  # None: the system's trusted CAs
    kafka_ssl_certfile: str | None = None  # client certificate, for brokers that require one
    kafka_ssl_keyfile: str | None = None
    kafka_ssl_key_password: SecretStr | None = None
    origin: str = Field(default="cdc-replicator", pattern=r"^[A-Za-z0-9._:/@+\-]{1,128}$")

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password: SecretStr | None = None
    redis_key_prefix: str = Field(default="cdc", pattern=r"^[A-Za-z0-9_\-]{1,32}$")

    dynamodb_endpoint_url: str = "http://127.0.0.1:8000"
    aws_region: str = "us-east-1"
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    dynamodb_concurrency: int = Field(default=16, ge=1, le=256)

    tables: dict[str, TableSpec] = Field(default_factory=lambda: dict(DEFAULT_TABLES))
    tombstone_grace_seconds: int = Field(default=SEVEN_DAYS, ge=1)

    batch_max_events: int = Field(default=1000, ge=1, le=100_000)
    batch_max_seconds: float = Field(default=0.5, gt=0, le=60)
    retry_max_backoff_seconds: float = Field(default=10.0, gt=0)

    web_enabled: bool = True
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=1, le=65535)
    data_dir: str = ".stack/worker"
    stack_dir: str = ".stack"
    cache_dir: str = ".cache"
    kafka_version: str = "3.9.1"

    @field_validator("tables")
    @classmethod
    def _at_least_one_table(cls, value: dict[str, TableSpec]) -> dict[str, TableSpec]:
        if not value:
            raise ValueError("declare at least one table")
        return value

    @field_validator("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")
    @classmethod
    def _readable_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    def as_env(self) -> dict[str, str]:
        """These settings as CDC_* variables, for a worker in another process (secrets left out)."""
        secrets = {name for name, value in self if isinstance(value, SecretStr)}
        dumped = self.model_dump(mode="json", exclude=secrets, exclude_none=True)
        return {
            f"{ENV_PREFIX}{name.upper()}": value if isinstance(value, str) else json.dumps(value)
            for name, value in dumped.items()
        }

    @cached_property
    def dlq_topic(self) -> str:
        return f"{self.topic}.dlq"

    @cached_property
    def kafka_port(self) -> int:
        first = self.kafka_bootstrap_servers.split(",")[0]
        return int(first.rsplit(":", 1)[1])

    @cached_property
    def redis_port(self) -> int:
        return urlsplit(self.redis_url).port or 6379

    @cached_property
    def dynamodb_port(self) -> int:
        return urlsplit(self.dynamodb_endpoint_url).port or 8000


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with a one-line error naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from exc


def describe_validation_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{ENV_PREFIX}{field.upper()}: {first['msg']}{extra}"


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
