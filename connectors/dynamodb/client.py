"""DynamoDB's clients (boto3 for table administration, connectors/dynamodb/api.py for the
store's writes and reads), one credential chain for both, and which errors are worth waiting out.
"""

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from connectors.dynamodb.api import DynamoDBApi
from connectors.store import WriteErrorOutcome
from streams.model.errors import AccessRefusedError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Credentials or permissions refused: an operator must fix them, retrying cannot.
ACCESS_DENIED_CODES = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
    "SignatureDoesNotMatch", "IncompleteSignatureException", "MissingAuthenticationToken",
    "MissingAuthenticationTokenException", "AccessDeniedException", "ExpiredTokenException",
})  # fmt: skip


def make_session(
    endpoint_url: str | None, region: str, credentials: tuple[str, str] | None
) -> boto3.Session:
    """Given keys, or boto3's standard chain (environment, profiles, SSO, web identity,
    container and instance roles); a local endpoint without keys gets dummy ones."""
    if credentials is None and endpoint_url:
        credentials = ("cdc-local", "cdc-local")
    key_id, secret = credentials or (None, None)
    return boto3.Session(aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=region)


def make_api(
    endpoint_url: str | None,
    region: str,
    credentials: tuple[str, str] | None,
    concurrency: int = 16,
) -> DynamoDBApi:
    """The store's client: writes and reads, `concurrency` requests in flight."""
    session = make_session(endpoint_url, region, credentials)
    return DynamoDBApi(endpoint_url, region, session.get_credentials(), concurrency)


def make_client(
    endpoint_url: str | None,
    region: str,
    credentials: tuple[str, str] | None,
    concurrency: int = 16,
) -> "DynamoDBClient":
    """boto3's client, with botocore's standard retry mode: tables, scans, probes."""
    # Short timeouts and few attempts here: our own loop retries without end, and a worker
    # stopping waits at most for one attempt in flight.
    config = Config(
        retries={"mode": "standard", "max_attempts": 2},
        max_pool_connections=concurrency,
        connect_timeout=3,
        read_timeout=5,
    )
    session = make_session(endpoint_url, region, credentials)
    return session.client("dynamodb", endpoint_url=endpoint_url or None, config=config)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_permanent(exc: BaseException) -> bool:
    """Only a malformed item is permanent; anything else (throttling, network, a missing table
    or credentials an operator can fix) is waited out rather than dead-lettered."""
    if isinstance(exc, ParamValidationError):
        return True
    return isinstance(exc, ClientError) and error_code(exc) == "ValidationException"


# The endpoint has no such operation (an emulator without transactions): waiting cannot help.
UNSUPPORTED_CODES = frozenset({"UnknownOperationException"})


def is_access_refused(exc: BaseException) -> bool:
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return True
    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = error_code(exc)
    return code in ACCESS_DENIED_CODES or code in UNSUPPORTED_CODES or status in (401, 403)


def access_refused(exc: BaseException) -> AccessRefusedError:
    return AccessRefusedError("dynamodb", exc)


def write_error_outcome(exc: BaseException) -> WriteErrorOutcome | None:
    """How a failed conditional put counts in a WriteOutcome."""
    if is_access_refused(exc):
        return "exit_2"
    if is_permanent(exc):
        return "dead_letter"
    if isinstance(exc, ClientError | BotoCoreError | OSError):
        return "retry"
    return None
