"""What becomes of each error the project raises or meets, in one table: in a command (the
CLI's boundary, streams.cli.main) and in the worker. Code that sorts errors reads it, a test
holds every ReplicatorError to having a row, and docs/errors.md shows it."""

from typing import NamedTuple

from aiokafka.errors import KafkaError
from botocore.exceptions import BotoCoreError, ClientError
from redis.exceptions import RedisError

from connectors.dynamodb.limits import CannotHoldError
from connectors.redis import errors as redis_errors
from connectors.sources.postgres import PostgresSourceError
from connectors.store import UnreadableItemsError
from streams.kafka.connect_rest import ConnectAnswerError, ConnectUnreachableError
from streams.kafka.connector_setup import ConnectorNotRunningError
from streams.kafka.groups import MissingGroupError
from streams.kafka.topics import MissingTopicError, TopicUnavailableError
from streams.model.errors import (
    AccessRefusedError,
    ConfigError,
    InvalidEventError,
    OperatorError,
    Outcome,
    ReplicatorError,
    StackError,
    StoreSchemaError,
)
from streams.model.tables_file import TablesFileError
from streams.pipeline.debezium_values import UndecodableError
from streams.pipeline.rebuild import PartialHistoryError


class Handling(NamedTuple):
    """`command`: what a command does when the error reaches it. `worker`: what the worker
    does. None where the error never gets that far (`note` says what happens instead)."""

    command: Outcome | None
    worker: Outcome | None
    note: str = ""


_EXIT = Handling("exit_2", "exit_2")
_COMMAND_ONLY = Handling("exit_2", None, "a command's error")
_AT_START = Handling("exit_2", "retry", "the worker waits for it at start")
_REFUSED = Handling("exit_2", "exit_2", "access refused: waiting cannot help")

OUTCOMES: dict[type[BaseException], Handling] = {
    # Any other ReplicatorError: exit 2 at the worker's start; met mid-stream, a bug that
    # crashes it (the batch is not committed, a supervisor restarts it).
    ReplicatorError: Handling("exit_2", "exit_1", "the root; exit_2 at the worker's start"),
    ConfigError: _EXIT,
    OperatorError: _EXIT,
    AccessRefusedError: _EXIT,
    StoreSchemaError: _EXIT,
    InvalidEventError: Handling("exit_2", "dead_letter", "with its reason"),
    UndecodableError: Handling(None, "dead_letter", "becomes InvalidEventError 'undecodable'"),
    CannotHoldError: Handling(None, "dead_letter", "the write is rejected: 'rejected_by_store'"),
    TablesFileError: Handling("exit_2", "exit_2", "becomes a ConfigError"),
    TopicUnavailableError: _AT_START,
    ConnectUnreachableError: Handling("exit_2", None, "the worker warns and goes on"),
    ConnectAnswerError: Handling("exit_2", None, "the worker warns and goes on"),
    MissingTopicError: _COMMAND_ONLY,
    MissingGroupError: _COMMAND_ONLY,
    ConnectorNotRunningError: _COMMAND_ONLY,
    PartialHistoryError: _COMMAND_ONLY,
    PostgresSourceError: _COMMAND_ONLY,
    UnreadableItemsError: _COMMAND_ONLY,
    StackError: _COMMAND_ONLY,
    # The services' own errors: a command names the service in one line (streams.failures);
    # a store reads its failed write in these words (connectors.store.WriteErrorOutcome).
    KafkaError: _AT_START,
    BotoCoreError: _AT_START,
    ClientError: Handling("exit_2", "retry", "refused: exit_2; a malformed write: dead_letter"),
    OSError: _AT_START,
    **{error: _AT_START for error in redis_errors.TRANSIENT_ERRORS},
    **{error: _REFUSED for error in redis_errors.ACCESS_ERRORS},
    RedisError: Handling("exit_2", "dead_letter", "a write's error reply: 'rejected_by_store'"),
}


def handling_of(error: type[BaseException]) -> Handling | None:
    """The row of `error`, or of its closest listed base; None for an error no row covers."""
    return next((OUTCOMES[cls] for cls in error.__mro__ if cls in OUTCOMES), None)


def command_outcome(exc: BaseException) -> Outcome | None:
    """What a command does with `exc`; None: a bug, which keeps its traceback."""
    handling = handling_of(type(exc))
    return handling.command if handling else None


def worker_retries() -> tuple[type[BaseException], ...]:
    """The errors the worker waits out with backoff."""
    return tuple(error for error, handling in OUTCOMES.items() if handling.worker == "retry")
