import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError

from streams.failures import describe_failure
from streams.logs import kafka_causes_kept

DENIED: Any = {"Error": {"Code": "AccessDeniedException", "Message": "no"}}


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (RedisConnectionError("Error 111 connecting to h:1."), "cannot reach Redis: Error 111 "
         "connecting to h:1."),
        (AuthenticationError("invalid password"), "Redis: invalid password"),
        (EndpointConnectionError(endpoint_url="http://h:1/"), "cannot reach DynamoDB: Could not "
         'connect to the endpoint URL: "http://h:1/"'),
        (ReadTimeoutError(endpoint_url="http://h:1/"), "cannot reach DynamoDB: Read timeout on "
         'endpoint URL: "http://h:1/"'),  # a frozen server, as Redis's timeout says it
        (ClientError(DENIED, "PutItem"), "DynamoDB: An error occurred (AccessDeniedException) "
         "when calling the PutItem operation: no"),
        (FileNotFoundError(2, "No such file or directory", "f"),
         "[Errno 2] No such file or directory: 'f'"),
        (KafkaConnectionError("Unable to bootstrap"), "cannot reach Kafka at h:1 "
         "(CDC_KAFKA_BOOTSTRAP_SERVERS): KafkaConnectionError: Unable to bootstrap"),
        (OSError("two\nlines"), "two lines"),
    ],
)  # fmt: skip
def test_a_failure_is_one_line_naming_the_service(exc: BaseException, line: str) -> None:
    assert describe_failure(exc, "h:1") == line


@pytest.fixture
def aiokafka_silenced() -> Iterator[logging.Logger]:
    """aiokafka's logger as the stack's readiness probe leaves it (and as it was, after)."""
    aiokafka = logging.getLogger("aiokafka")
    level = aiokafka.level
    aiokafka.setLevel(logging.CRITICAL)
    yield aiokafka
    aiokafka.setLevel(level)


def test_kafka_names_the_cause_it_logged_instead_of_raising(
    aiokafka_silenced: logging.Logger,
) -> None:
    aiokafka = aiokafka_silenced
    with kafka_causes_kept() as causes:
        aiokafka.getChild("client").error(
            'Unable connect to "%s:%s": %s', "h", 1, SaslAuthenticationFailed("bad credentials")
        )
        assert not aiokafka.propagate  # kept, not printed
    assert aiokafka.propagate and causes not in aiokafka.handlers
    assert aiokafka.level == logging.CRITICAL
    line = describe_failure(KafkaConnectionError("Unable to bootstrap"), "h:1", causes.last)
    assert line == (
        "cannot reach Kafka at h:1 (CDC_KAFKA_BOOTSTRAP_SERVERS): "
        "[Error 58] SaslAuthenticationFailed: bad credentials"
    )


@pytest.mark.parametrize(
    ("cause", "said"),
    [
        (TimeoutError(), "no answer in Kafka's protocol in time (TimeoutError); is the server "
         "there Kafka?"),
        (ConnectionResetError(), "ConnectionResetError (no detail given)"),
    ],
)  # fmt: skip
def test_a_kafka_cause_without_a_message_is_still_named(cause: BaseException, said: str) -> None:
    """What a bootstrap pointed at a port that is not Kafka's (Redis's, say) logs."""
    line = describe_failure(KafkaConnectionError("Unable to bootstrap"), "h:1", cause)
    assert line == f"cannot reach Kafka at h:1 (CDC_KAFKA_BOOTSTRAP_SERVERS): {said}"


def test_a_reader_that_went_away_ends_the_command_quietly() -> None:
    """`cdc-replicator verify | head`: no 'error: [Errno 32] Broken pipe', the shell's 141."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "streams.cli", "schema"], stdout=write_end,
                              stderr=subprocess.PIPE, timeout=60, check=False)  # fmt: skip
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, b"")


def test_redis_asking_for_a_password_none_was_given_for_names_the_setting() -> None:
    refused = AuthenticationError("HELLO must be called with the client already authenticated")
    line = describe_failure(refused, "h:1", redis_auth=False)
    assert line == "Redis requires a password: set CDC_REDIS_PASSWORD (or put it in CDC_REDIS_URL)"
