import json
import re

import pytest
from pydantic import SecretStr

from streams.cli.main import main
from streams.kafka.clients import Kafka
from streams.model.errors import ConfigError
from streams.model.tables import TableSpec
from streams.settings import Settings, load_settings
from streams.settings_checks import redact_url
from streams.stores import local_transact_warning


def test_defaults_match_the_local_stack() -> None:
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.topic == "changes" and settings.dlq_topic == "changes.dlq"
    assert (settings.stack.kafka_port, settings.stack.redis_port, settings.stack.dynamodb_port) == (
        9092,
        6379,
        8000,
    )
    assert settings.tables["opponents"].key_attributes == ("owner_id", "opponent_id")


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_TOPIC", "orders")
    monkeypatch.setenv("CDC_REDIS_URL", "redis://127.0.0.1:6380/2")
    monkeypatch.setenv("CDC_TABLES", '{"items": {"partition_key": "id"}}')
    settings = load_settings()
    assert settings.topic == "orders" and settings.stack.redis_port == 6380
    assert settings.tables == {"items": TableSpec(partition_key="id")}


def test_settings_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        Settings().topic = "other"


def test_bad_value_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_TOPIC_PARTITIONS", "many")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("CDC_TOPIC_PARTITIONS: ") and "\n" not in message


@pytest.mark.parametrize("topic", ["", "bad topic!", "x" * 246, "..", "é", "__consumer_offsets"])
def test_a_topic_name_kafka_would_refuse_is_refused_up_front(
    topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDC_TOPIC", topic)
    with pytest.raises(ConfigError, match=r"^CDC_TOPIC: expected a Kafka topic name"):
        load_settings()


def test_the_longest_topic_name_leaves_room_for_its_dlq(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_TOPIC", "a.b_c-" + "x" * 239)
    assert len(load_settings().dlq_topic) == 249


def test_cli_prints_the_error_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDC_WEB_PORT", "99999")
    assert main(["schema"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: CDC_WEB_PORT:") and "Traceback" not in err


def test_secrets_are_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_REDIS_PASSWORD", "hunter2")
    monkeypatch.setenv("CDC_AWS_SECRET_ACCESS_KEY", "s3cr3t")
    monkeypatch.setenv("CDC_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("CDC_KAFKA_SASL_PASSWORD", "kafka-pw")
    settings = load_settings()
    shown = repr(settings) + settings.model_dump_json() + repr(Kafka.of(settings.kafka))
    shown += json.dumps(settings.as_env())  # what a worker in another process is handed
    assert not {"hunter2", "s3cr3t", "kafka-pw"} & set(re.findall(r"[\w-]+", shown))
    assert Kafka.of(settings.kafka).options["sasl_plain_password"] == "kafka-pw"
    assert settings.redis_password is not None
    assert settings.redis_password.get_secret_value() == "hunter2"


def test_redact_url_hides_the_password() -> None:
    assert redact_url("redis://user:pw@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"partition_key": "a", "sort_key": "a"}, "must differ"),
        ({"partition_key": "_a"}, "reserved"),
        ({"partition_key": "a", "index_attribute": "ts"}, "needs a sort_key"),
    ],
)
def test_table_declarations_are_checked(spec: dict[str, str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        TableSpec.model_validate(spec)


TABLE_WITH_INDEX_IX = (
    '{"tbl": {"partition_key": "k", "sort_key": "s", "index_attribute": "t", "index_name": "ix"}}'
)


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("CDC_TABLES", "not json", "CDC_TABLES: not valid JSON"),
        ("CDC_TABLES", '{"t": {"sort_key": "s"}}', "CDC_TABLES: t.partition_key: Field required"),
        ("CDC_REDIS_URL", "notaurl", "CDC_REDIS_URL: expected a URL like redis://"),
        ("CDC_REDIS_URL", "redis://:pw@host:port/0", "CDC_REDIS_URL: bad port in 'redis://:***@"),
        # redis-py would silently use database 0 for a database it cannot read as a number.
        ("CDC_REDIS_URL", "redis://:pw@host:6379/abc", "CDC_REDIS_URL: the database in 'redis://"),
        ("CDC_REDIS_URL", "redis://host:6379/1?db=x", "must be a number"),
        ("CDC_KAFKA_BOOTSTRAP_SERVERS", "host:abc", "expected host:port[,host:port...]"),
        ("CDC_KAFKA_BOOTSTRAP_SERVERS", "a:9092,b", "got 'b'"),
        ("CDC_DYNAMODB_ENDPOINT_URL", "localhost:8000", "expected a URL like http://host:port"),
        # DynamoDB's names: 3 to 255 of A-Za-z0-9_.- (moto takes others, DynamoDB refuses them).
        ("CDC_TABLES", '{"w2": {"partition_key": "k"}}', "w2: the table name 'w2' is not a Dyn"),
        ("CDC_TABLES", '{"t": {"partition_key": "k", "dynamodb_table": "a b c"}}', "'a b c'"),
        ("CDC_TABLES", TABLE_WITH_INDEX_IX, "tbl: index_name 'ix' is not a DynamoDB name"),
        # Signed into every request: moto answered a 500 with no message, AWS an unknown host.
        ("CDC_AWS_REGION", "us east", "expected an AWS region like us-east-1, got 'us east'"),
        ("CDC_AWS_REGION", "", "expected an AWS region like us-east-1, got ''"),
    ],
)
def test_malformed_values_are_one_line_naming_the_variable(
    variable: str, value: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable}: ") and says in message and "\n" not in message
    assert "pw" not in message


def test_well_formed_urls_and_servers_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_KAFKA_BOOTSTRAP_SERVERS", "k1:9092, [::1]:9093")
    monkeypatch.setenv("CDC_REDIS_URL", "rediss+cluster://user:pw@r:7000")
    monkeypatch.setenv("CDC_DYNAMODB_ENDPOINT_URL", "")  # real AWS
    settings = load_settings()
    assert settings.secret_values() == ["pw"]  # the password inside the URL is a secret too


def test_an_unknown_variable_is_a_warning_naming_the_closest_setting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CDC_TOPC", "orders")
    monkeypatch.setenv("cdc_redis_pasword", "x")
    monkeypatch.setenv("CDC_NOTHING_LIKE_IT", "1")
    monkeypatch.setenv("CDC_TEST_KAFKA_BOOTSTRAP", "k:1")  # the test suite's own
    assert load_settings().topic == "changes"
    assert [r.getMessage() for r in caplog.records] == [
        "warning: CDC_NOTHING_LIKE_IT is not a cdc-replicator setting, ignored",
        "warning: CDC_TOPC is not a cdc-replicator setting, ignored; did you mean CDC_TOPIC?",
        "warning: cdc_redis_pasword is not a cdc-replicator setting, ignored; "
        "did you mean CDC_REDIS_PASSWORD?",
    ]
    assert all(r.levelname == "WARNING" for r in caplog.records)


def test_an_undeclared_table_is_named_with_the_declared_ones() -> None:
    with pytest.raises(ConfigError, match=r"'nosuch' is not declared .* \(declared: opponents\)"):
        Settings().table("nosuch")


def test_the_worker_data_dir_follows_the_stack_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().data_dir == ".stack/worker"
    monkeypatch.setenv("CDC_STACK_DIR", "/srv/cdc")
    assert load_settings().data_dir == "/srv/cdc/worker"
    monkeypatch.setenv("CDC_DATA_DIR", "/var/lib/cdc")
    assert load_settings().data_dir == "/var/lib/cdc"


def test_each_part_holds_its_own_variables() -> None:
    settings = Settings(
        kafka_bootstrap_servers="k:1",
        kafka_security_protocol="SASL_PLAINTEXT",
        topic="orders",
        topic_partitions=3,
        redis_url="redis://r:7/1",
        redis_key_prefix="app",
        dynamodb_endpoint_url="http://d:9",
        aws_access_key_id=SecretStr("id"),
        aws_secret_access_key=SecretStr("secret"),
        batch_max_events=7,
        web_port=7000,
    )
    assert (settings.kafka.bootstrap_servers, settings.kafka.security_protocol) == (
        "k:1",
        "SASL_PLAINTEXT",
    )
    assert (settings.changes.name, settings.changes.partitions) == ("orders", 3)
    assert settings.changes.dlq == "orders.dlq"
    assert (settings.redis.url, settings.redis.key_prefix) == ("redis://r:7/1", "app")
    assert settings.dynamodb.credentials() == ("id", "secret")
    assert (settings.worker.batch_max_events, settings.worker.web_port) == (7, 7000)
    assert (settings.stack.kafka_port, settings.stack.redis_port) == (1, 7)


def test_parts_follow_a_copy_with_other_values() -> None:
    """Parts are built when asked, so a copy never carries the original's topic or ports."""
    settings = Settings()
    assert settings.changes.name == "changes" and settings.dlq_topic == "changes.dlq"
    copied = settings.model_copy(update={"topic": "orders", "redis_url": "redis://h:7/0"})
    assert copied.changes.name == "orders" and copied.dlq_topic == "orders.dlq"
    assert copied.stack.redis_port == 7


@pytest.mark.parametrize(
    ("endpoint", "mode", "warned"),
    [("http://127.0.0.1:8000", "transact", True), ("http://localhost:4567", "transact", True),
     ("http://127.0.0.1:8000", "put", False), ("", "transact", False),
     ("https://dynamodb.eu-west-1.amazonaws.com", "transact", False)],
)  # fmt: skip
def test_transact_mode_against_a_local_emulator_is_warned_about(
    endpoint: str, mode: str, warned: bool
) -> None:
    settings = Settings(dynamodb_endpoint_url=endpoint, dynamodb_write_mode=mode)  # type: ignore[arg-type]
    warning = local_transact_warning(settings.dynamodb)
    assert (warning is not None) is warned
    assert warning is None or "lose newer versions under concurrency" in warning
