"""The parts of the settings each module receives: one frozen object per concern.

`Settings` reads the flat `CDC_*` variables users set; its parts (`settings.kafka`,
`settings.changes`, `settings.redis`, `settings.dynamodb`, `settings.worker`, `settings.stack`)
are what modules take, so a function's signature says which settings it can depend on.
"""

from dataclasses import dataclass

from pydantic import SecretStr

DLQ_SUFFIX = ".dlq"  # the dead-letter topic is the changes topic's name and this


def revealed(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret else None


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """How every Kafka client reaches the brokers (`CDC_KAFKA_*`)."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_key_password: SecretStr | None = None
    session_timeout_seconds: float = 30.0
    max_poll_interval_seconds: float = 300.0


@dataclass(frozen=True, slots=True)
class TopicSettings:
    """The changes topic and what it is created with (`CDC_TOPIC*`, the tombstone grace)."""

    name: str
    partitions: int
    replication_factor: int
    tombstone_grace_seconds: int

    @property
    def dlq(self) -> str:
        return f"{self.name}{DLQ_SUFFIX}"


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """Where the Redis store is (`CDC_REDIS_*`)."""

    url: str
    password: SecretStr | None
    key_prefix: str


@dataclass(frozen=True, slots=True)
class DynamoDBSettings:
    """Where DynamoDB is, and how many writes are in flight (`CDC_DYNAMODB_*`, `CDC_AWS_*`)."""

    endpoint_url: str
    region: str
    access_key_id: SecretStr | None
    secret_access_key: SecretStr | None
    concurrency: int
    write_mode: str = "put"  # or "transact" (connectors/dynamodb/transact.py)

    def credentials(self) -> tuple[str, str] | None:
        """Explicit keys, or None for the default AWS chain."""
        key, secret = revealed(self.access_key_id), revealed(self.secret_access_key)
        return (key, secret) if key and secret else None


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How the worker batches, retries, reports and serves its pages."""

    group_id: str
    batch_max_events: int
    batch_max_seconds: float
    retry_max_backoff_seconds: float
    health_stuck_seconds: float
    lag_refresh_seconds: float
    web_enabled: bool
    web_host: str
    web_port: int
    data_dir: str


@dataclass(frozen=True, slots=True)
class StackSettings:
    """The local development stack: where it lives and on which ports its services listen."""

    stack_dir: str
    cache_dir: str
    kafka_version: str
    kafka_port: int
    redis_port: int
    dynamodb_port: int
    postgres_port: int
    connect_port: int
