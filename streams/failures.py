"""What a command says when an error the outcomes table exits 2 on reaches it: one line naming
the cause (a service, a file, or the project's own message).

The CLI's one error boundary (streams.cli.main) and a snapshot part's print these instead of a
traceback; anything else that escapes is a bug, and keeps its traceback.
"""

from aiokafka.errors import KafkaConnectionError, KafkaError
from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from streams.model.errors import ReplicatorError


def describe_failure(
    exc: BaseException,
    kafka_servers: str = "",
    kafka_cause: BaseException | None = None,
    *,
    redis_auth: bool = True,
) -> str:
    """One line for `exc`, naming the service or the file. `kafka_cause` is what aiokafka
    logged before "Unable to bootstrap" (it does not chain it); `redis_auth` says whether a
    Redis password was given (refused without one: say which setting)."""
    if isinstance(exc, ReplicatorError):  # its message is written for the user
        line = str(exc)
    elif isinstance(exc, KafkaConnectionError) and kafka_cause is not None:
        line = f"cannot reach {_kafka(kafka_servers)}: {_kafka_cause(kafka_cause)}"
    elif isinstance(exc, AuthenticationError) and not redis_auth:
        line = "Redis requires a password: set CDC_REDIS_PASSWORD (or put it in CDC_REDIS_URL)"
    else:
        line = _describe(exc, kafka_servers)
    return " ".join(line.split())  # never a second line


def _describe(exc: BaseException, kafka_servers: str) -> str:
    service = _service(exc, kafka_servers)
    if service is None:
        return str(exc)  # an OSError names its file
    return f"cannot reach {service}: {exc}" if _unreachable(exc) else f"{service}: {exc}"


def _service(exc: BaseException, kafka_servers: str) -> str | None:
    if isinstance(exc, KafkaError):
        return _kafka(kafka_servers)
    if isinstance(exc, RedisError):
        return "Redis"
    if isinstance(exc, BotoCoreError | ClientError):
        return "DynamoDB"
    return None


def _unreachable(exc: BaseException) -> bool:
    if isinstance(exc, AuthenticationError):  # a ConnectionError to redis-py, not to a user
        return False
    unreachable = (KafkaConnectionError, RedisConnectionError, RedisTimeoutError)
    return isinstance(exc, (*unreachable, BotoConnectionError, ReadTimeoutError))


def _kafka_cause(cause: BaseException) -> str:
    """Never empty: a server that does not speak Kafka (Redis, say) leaves the request
    unanswered, and aiokafka logs a bare TimeoutError."""
    if str(cause):
        return str(cause)
    if isinstance(cause, TimeoutError):
        return "no answer in Kafka's protocol in time (TimeoutError); is the server there Kafka?"
    return f"{type(cause).__name__} (no detail given)"


def _kafka(servers: str) -> str:
    return f"Kafka at {servers} (CDC_KAFKA_BOOTSTRAP_SERVERS)"
