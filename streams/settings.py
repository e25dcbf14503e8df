"""One frozen settings object, read from `CDC_*` environment variables."""

import difflib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from streams.model.errors import ConfigError
from streams.model.redis_key_space import clash as redis_key_clash
from streams.model.tables import DEFAULT_TABLES, TableSpec, check_sources, check_topic_formats
from streams.model.tables_file import load_tables_file
from streams.settings_checks import (
    ENV_PREFIX,
    check_aws_region,
    check_bootstrap_servers,
    check_dynamodb_names,
    check_service_url,
    check_topic_name,
    describe_validation_error,
    undecodable_variables,
)
from streams.settings_parts import (
    DebeziumSettings,
    DeclaredTables,
    DynamoDBSettings,
    IntakeSettings,
    KafkaSettings,
    RedisSettings,
    SourceSettings,
    StackSettings,
    TopicSettings,
    WorkerSettings,
)

log = logging.getLogger(__name__)

SEVEN_DAYS = 7 * 24 * 3600
# CDC_* variables that are not settings: the test suite's own (they point tests at services).
NOT_SETTINGS = ("CDC_TEST_", "CDC_DASHBOARD_SCREENSHOT")


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
    # put: one conditional PutItem per item (1 write unit each); transact: TransactWriteItems of
    # up to 100 conditional Puts (2 write units each, far less client CPU per item).
    dynamodb_write_mode: Literal["put", "transact"] = "put"

    # The database Debezium reads (`verify --source postgres` reads it too) and the Kafka Connect
    # worker's REST API: `stack up --with-postgres` runs both on these ports (Connect on 8083
    # when unset). Set, the worker watches the connectors behind its Debezium tables.
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    connect_url: str = ""

    # NoDecode: parsed by _tables_from_json, so bad JSON is a one-line error like any other.
    tables: Annotated[dict[str, TableSpec], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_TABLES)
    )
    # A TOML or YAML file declaring the tables instead (same schema); never both.
    tables_file: str | None = None
    tombstone_grace_seconds: int = Field(default=SEVEN_DAYS, ge=1)

    batch_max_events: int = Field(default=1000, ge=1, le=100_000)
    batch_max_seconds: float = Field(default=0.5, gt=0, le=60)
    retry_max_backoff_seconds: float = Field(default=10.0, gt=0)
    # /health: a batch with no retry and no result for this long is wedged (far beyond one
    # write attempt plus the longest backoff).
    health_stuck_seconds: float = Field(default=300.0, gt=0)
    # How often the worker reads its groups' lag and status from the broker.
    lag_refresh_seconds: float = Field(default=5.0, gt=0, le=300)

    web_enabled: bool = True
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=1, le=65535)
    stack_dir: str = ".stack"
    # The worker's own state (Faust's datadir); empty: `<stack_dir>/worker`. After stack_dir,
    # which its validator reads.
    data_dir: str = Field(default="", validate_default=True)
    cache_dir: str = ".cache"
    kafka_version: str = "3.9.1"

    @model_validator(mode="before")
    @classmethod
    def _tables_from_file(cls, data: Any) -> Any:
        # Before field validation, so the file's tables are what `tables` holds; its errors
        # already name the variable, the file, the table and the field.
        if not isinstance(data, dict) or not data.get("tables_file"):
            return data
        if data.get("tables") is not None:
            raise ValueError(
                "CDC_TABLES and CDC_TABLES_FILE are both set: declare the tables in one of them"
            )
        return {**data, "tables": load_tables_file(str(data["tables_file"]))}

    @field_validator("tables", mode="before")
    @classmethod
    def _tables_from_json(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None

    @field_validator("tables")
    @classmethod
    def _at_least_one_table(
        cls, value: dict[str, TableSpec], info: ValidationInfo
    ) -> dict[str, TableSpec]:
        if not value:
            raise ValueError("declare at least one table")
        check_topic_formats(value, info.data.get("topic", "changes"))
        check_sources(value)
        check_dynamodb_names(value)
        shared = redis_key_clash(value, info.data.get("redis_key_prefix", "cdc"))
        if shared:
            raise ValueError(shared)
        return value

    @field_validator("data_dir")
    @classmethod
    def _under_stack_dir(cls, value: str, info: ValidationInfo) -> str:
        return value or str(Path(info.data.get("stack_dir", ".stack")) / "worker")

    @field_validator("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")
    @classmethod
    def _readable_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str) -> str:
        return check_bootstrap_servers(value)

    @field_validator("topic")
    @classmethod
    def _topic_name(cls, value: str) -> str:
        return check_topic_name(value)

    @field_validator("aws_region")
    @classmethod
    def _aws_region(cls, value: str) -> str:
        return check_aws_region(value)

    @field_validator("redis_url", "dynamodb_endpoint_url", "postgres_url", "connect_url")
    @classmethod
    def _service_url(cls, value: str, info: ValidationInfo) -> str:
        return check_service_url(str(info.field_name), value)

    def table(self, name: str) -> TableSpec:
        """The declared table `name`; a ConfigError naming the declared ones otherwise."""
        return self.declared_tables.table(name)

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, as text (for scrubbing logs)."""
        values = [v.get_secret_value() for _, v in self if isinstance(v, SecretStr)]
        values.append(urlsplit(self.redis_url).password or "")
        values.append(urlsplit(self.postgres_url).password or "")
        return [value for value in values if value]

    def as_env(self) -> dict[str, str]:
        """These settings as CDC_* variables, for a worker in another process (secrets left out)."""
        secrets = {name for name, value in self if isinstance(value, SecretStr)}
        # The file's tables travel as CDC_TABLES: the other process may not see the file.
        dumped = self.model_dump(mode="json", exclude={*secrets, "tables_file"}, exclude_none=True)
        return {
            f"{ENV_PREFIX}{name.upper()}": value if isinstance(value, str) else json.dumps(value)
            for name, value in dumped.items()
        }

    @property
    def dlq_topic(self) -> str:
        return self.changes.dlq

    # The parts modules receive (streams/settings_parts.py).
    @property
    def kafka(self) -> KafkaSettings:
        return KafkaSettings(**self._part_values(KafkaSettings, "kafka_"))

    @property
    def changes(self) -> TopicSettings:
        return TopicSettings(
            self.topic,
            self.topic_partitions,
            self.topic_replication_factor,
            self.tombstone_grace_seconds,
        )

    @property
    def redis(self) -> RedisSettings:
        return RedisSettings(**self._part_values(RedisSettings, "redis_"))

    @property
    def dynamodb(self) -> DynamoDBSettings:
        return DynamoDBSettings(
            self.dynamodb_endpoint_url,
            self.aws_region,
            self.aws_access_key_id,
            self.aws_secret_access_key,
            self.dynamodb_concurrency,
            self.dynamodb_write_mode,
        )

    @property
    def worker(self) -> WorkerSettings:
        return WorkerSettings(**self._part_values(WorkerSettings, ""))

    @property
    def stack(self) -> StackSettings:
        """The local stack's ports follow the client URLs, so one variable moves both."""
        return StackSettings(
            self.stack_dir,
            self.cache_dir,
            self.kafka_version,
            kafka_port=int(self.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)[1]),
            redis_port=urlsplit(self.redis_url).port or 6379,
            dynamodb_port=urlsplit(self.dynamodb_endpoint_url).port or 8000,
            postgres_port=urlsplit(self.postgres_url).port or 5432,
            connect_port=urlsplit(self.connect_url).port or 8083,
        )

    @property
    def debezium(self) -> DebeziumSettings:
        declared = "postgres_url" in self.model_fields_set
        return DebeziumSettings(self.postgres_url, self.connect_url, declared)

    @property
    def declared_tables(self) -> DeclaredTables:
        return DeclaredTables(self.tables, self.tables_file or "CDC_TABLES")

    @property
    def sources(self) -> SourceSettings:
        return SourceSettings(self.declared_tables, self.redis, self.dynamodb, self.postgres_url)

    @property
    def intake(self) -> IntakeSettings:
        return IntakeSettings(self.kafka, self.worker, self.changes, self.tables)

    def _part_values(self, part: type, prefix: str) -> dict[str, Any]:
        return {f.name: getattr(self, prefix + f.name) for f in fields(part)}


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with a one-line error naming the bad variable, and a
    warning for each CDC_* variable that is no setting (a typo would go unnoticed)."""
    for warning in unknown_variables(os.environ):
        log.warning("%s", warning)
    undecodable = undecodable_variables(os.environ)
    if undecodable:
        raise ConfigError(f"{', '.join(undecodable)}: not UTF-8 text")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from exc
    except SettingsError as exc:  # a value pydantic-settings could not even parse
        raise ConfigError(str(exc)) from exc


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning per CDC_* variable that is not a setting, naming the closest one."""
    known = [f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields]
    warnings = []
    for name in sorted(environ):
        upper = name.upper()  # settings are read case-insensitively
        if not upper.startswith(ENV_PREFIX) or upper in known or upper.startswith(NOT_SETTINGS):
            continue
        closest = difflib.get_close_matches(upper, known, n=1, cutoff=0.75)
        hint = f"; did you mean {closest[0]}?" if closest else ""
        warnings.append(f"warning: {name} is not a cdc-replicator setting, ignored{hint}")
    return warnings
