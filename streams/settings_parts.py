"""The parts of the settings each module receives: one frozen object per concern.

`Settings` reads the flat `CDC_*` variables users set; its parts are what modules take, so a
function's signature says which settings it can depend on, and a new setting touches its part
and its doc, not every signature: `settings.kafka`, `.changes` (the changes topic), `.redis`,
`.dynamodb`, `.worker`, `.stack`, `.debezium`, `.declared_tables`; and two that gather parts,
`.intake` (reading the changes topic: the worker, a rebuild, a dead-letter replay) and
`.sources` (opening a snapshot source).

The rule: below the CLI a function takes the parts it reads, never the whole `Settings`. Only
what assembles a run from many parts keeps it, saying so in its docstring: the store registry
(streams/stores.py: each store reads its own part, as a Kafka Connect connector reads its own
keys of the whole config), the worker's app and start-up, the commands that open stores through
that registry or assemble a snapshot run, and the local stack. tests/unit/test_settings_parts.py
holds that list.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from streams.model.errors import ConfigError
from streams.model.tables import TableSpec

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


@dataclass(frozen=True, slots=True)
class DebeziumSettings:
    """The database Debezium reads and the Kafka Connect worker in front of it
    (`CDC_POSTGRES_URL`, `CDC_CONNECT_URL`; empty: no Connect to watch)."""

    postgres_url: str
    connect_url: str
    postgres_declared: bool = False  # CDC_POSTGRES_URL set, not left at its default


@dataclass(frozen=True, eq=False)
class DeclaredTables(Mapping[str, TableSpec]):
    """The declared tables (`CDC_TABLES` or `CDC_TABLES_FILE`), by name; `table(name)` says
    where they are declared when `name` is not one of them."""

    specs: Mapping[str, TableSpec]
    declared_in: str = "CDC_TABLES"

    def table(self, name: str) -> TableSpec:
        """The declared table `name`; a ConfigError naming the declared ones otherwise."""
        spec = self.specs.get(name)
        if spec is None:
            declared = ", ".join(self.specs)
            raise ConfigError(
                f"table {name!r} is not declared in {self.declared_in} (declared: {declared})"
            )
        return spec

    def __getitem__(self, name: str) -> TableSpec:
        return self.specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """What opening a snapshot source reads: the declared tables, and where each kind of
    source is (the legacy Redis defaults to the store's, with its password)."""

    tables: DeclaredTables
    redis: RedisSettings
    dynamodb: DynamoDBSettings
    postgres_url: str


@dataclass(frozen=True, slots=True)
class IntakeSettings:
    """What reading the changes topic through the worker's intake and applying it needs
    (streams/pipeline/intake.py): the worker, a rebuild and a dead-letter replay."""

    kafka: KafkaSettings
    worker: WorkerSettings
    changes: TopicSettings
    tables: Mapping[str, TableSpec]
