"""DynamoDB's JSON API for the store's hot path (writes and reads): aiodynamo's signed requests
over aiohttp, with botocore's credential chain.

A conditional PutItem costs ~1 ms of client CPU through boto3 and ~0.2 ms through aiodynamo's
`send_request` on aiohttp (bench/dynamodb_client.py measures both): the payloads are
DynamoDB's own JSON, built and read by connectors/dynamodb/attributes.py (numbers exact), so
aiodynamo only signs, sends and reads the status. Its errors come out as botocore's, shaped as
boto3 raises them (`ClientError` with the code, status and a cancelled transaction's reasons;
`EndpointConnectionError`, `ReadTimeoutError`), so the rest of the code reads one kind.
"""

import asyncio
import io
import json
import re
from collections.abc import Mapping
from typing import Any, cast

import aiohttp
from aiodynamo import errors as aiodynamo_errors
from aiodynamo.client import Client
from aiodynamo.credentials import Credentials, Key
from aiodynamo.http.aiohttp import AIOHTTP
from aiodynamo.http.types import HttpImplementation, Request, RequestFailed, Response
from aiodynamo.models import RetryConfig, RetryTimeout
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from yarl import URL

RETRY_DELAY = 0.1  # one more attempt after a transient failure; the caller's loop does the rest
LARGE_BODY = 512 * 1024  # aiohttp warns that a bytes body over 1 MB may block the loop


class DynamoDBApi:
    """One endpoint and region, `concurrency` requests in flight on one aiohttp session (made
    in the loop of the first call)."""

    def __init__(
        self,
        endpoint_url: str | None,
        region: str,
        credentials: BotoCredentials | None,
        concurrency: int = 16,
    ) -> None:
        self.endpoint = URL(endpoint_url or f"https://dynamodb.{region}.amazonaws.com/")
        self.region = region
        self.credentials = ChainCredentials(credentials)
        self.concurrency = concurrency
        self._client: Client | None = None
        self._session: aiohttp.ClientSession | None = None

    async def call(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """DynamoDB's answer to one call, or botocore's exception for its error."""
        client = self._client or self._open()
        try:
            return await client.send_request(action=operation, payload=payload)
        except aiodynamo_errors.UnknownOperation as exc:
            raise self._unknown(operation) from exc
        except aiodynamo_errors.AIODynamoError as exc:
            raise _client_error(exc, operation) from exc
        except TimeoutError as exc:
            raise ReadTimeoutError(endpoint_url=str(self.endpoint), error=exc) from exc
        except aiohttp.ClientConnectorError as exc:
            raise EndpointConnectionError(endpoint_url=str(self.endpoint), error=exc) from exc
        except aiohttp.ClientError as exc:
            raise ConnectionClosedError(endpoint_url=str(self.endpoint), error=exc) from exc

    def _unknown(self, operation: str) -> ClientError:
        """An endpoint without `operation` (dynalite has no transactions): named, for one line."""
        hint = (
            " (CDC_DYNAMODB_WRITE_MODE=put needs none)" if operation.startswith("Transact") else ""
        )
        message = (
            f"{self.endpoint} has no {operation}: not DynamoDB, or an emulator without it{hint}"
        )
        response: Any = {"Error": {"Code": "UnknownOperationException", "Message": message},
                         "ResponseMetadata": {"HTTPStatusCode": 400}}  # fmt: skip
        return ClientError(response, operation)

    def _open(self) -> Client:
        connector = aiohttp.TCPConnector(limit=self.concurrency, ttl_dns_cache=300)
        # As boto3's client: 3 s to connect, 5 s for an answer.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=3, sock_read=5)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        self._client = Client(
            _SignedHost(self._session),
            self.credentials,
            self.region,
            self.endpoint,
            throttle_config=_TwoAttempts(),
        )
        return self._client

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = self._client = None


class ChainCredentials(Credentials):
    """botocore's resolved credentials (environment, profiles, SSO, web identity, container
    and instance roles), refreshed by botocore as they near expiry, off the event loop."""

    def __init__(self, resolved: BotoCredentials | None) -> None:
        self.resolved = resolved

    async def get_key(self, http: HttpImplementation) -> Key | None:
        if self.resolved is None:
            return None
        refresh_needed = getattr(self.resolved, "refresh_needed", None)
        if refresh_needed is not None and refresh_needed():  # may ask STS or the instance
            frozen = await asyncio.to_thread(self.resolved.get_frozen_credentials)
        else:
            frozen = self.resolved.get_frozen_credentials()
        return Key(frozen.access_key or "", frozen.secret_key or "", frozen.token)

    def invalidate(self) -> bool:
        return False  # botocore refreshes before expiry; an expired token is an operator's

    def is_disabled(self) -> bool:
        return False


class _SignedHost(AIOHTTP):
    """aiodynamo's aiohttp adapter, sending the Host header it signed (the host without its
    port, so that an endpoint on another port than 80 or 443 checks the same signature), and
    a large body as a stream (a transaction may be megabytes)."""

    async def __call__(self, request: Request) -> Response:
        headers = {**(request.headers or {}), "Host": URL(request.url).raw_host or ""}
        body = request.body or b""
        data = io.BytesIO(body) if len(body) > LARGE_BODY else body
        try:
            async with self.session.request(
                request.method, request.url, headers=headers, data=data
            ) as response:
                return Response(response.status, await response.read())
        except aiohttp.ClientError as exc:
            raise RequestFailed(exc) from exc


class _TwoAttempts(RetryConfig):
    """aiodynamo retries throttling and timeouts for up to a minute by default: one more
    attempt here, then the caller's own loop backs off (and a stopping worker is not held)."""

    time_limit_secs = 2 * RETRY_DELAY

    def delays(self) -> list[float]:
        return [RETRY_DELAY]

    async def attempts(self) -> Any:
        yield
        await asyncio.sleep(RETRY_DELAY)
        yield
        raise RetryTimeout()


# The two errors aiodynamo reads from the status alone, with no body.
_SERVER_ERRORS: dict[type, tuple[int, str]] = {
    aiodynamo_errors.InternalDynamoError: (500, "InternalServerError"),
    aiodynamo_errors.ServiceUnavailable: (503, "ServiceUnavailable"),
}


def _client_error(exc: aiodynamo_errors.AIODynamoError, operation: str) -> Exception:
    """botocore's exception for an error aiodynamo read from DynamoDB's answer."""
    if isinstance(exc, aiodynamo_errors.NoCredentialsFound):
        return NoCredentialsError()
    body = _body(exc)
    status, code = _SERVER_ERRORS.get(type(exc), (400, ""))
    if isinstance(exc, aiodynamo_errors.UnknownError):
        status = exc.status
    code = str(body.get("__type", "")).rsplit("#", 1)[-1] or code or str(status)
    message = str(body.get("message") or body.get("Message") or "")
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    if "CancellationReasons" in body:
        response["CancellationReasons"] = body["CancellationReasons"]
    if "Item" in body:  # a refused write's item, when it asked for it back
        response["Item"] = body["Item"]
    return ClientError(cast(Any, response), operation)


def _xml_error(text: str) -> dict[str, Any]:
    """An error answered in XML (IAM's refusals, as moto sends them): its code and message."""
    code, message = _XML_CODE.search(text), _XML_MESSAGE.search(text)
    if code is None:
        return {"message": " ".join(text.split())[:200]}
    return {"__type": code[1], "message": message[1] if message else ""}


_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")


def _body(exc: aiodynamo_errors.AIODynamoError) -> dict[str, Any]:
    """The error's JSON body: aiodynamo keeps it as its argument, or as bytes when unknown."""
    if isinstance(exc, aiodynamo_errors.UnknownError):
        try:
            parsed = json.loads(exc.body)
        except ValueError:
            return _xml_error(exc.body.decode(errors="replace"))
        return parsed if isinstance(parsed, dict) else {}
    found = exc.args[0] if exc.args else None
    return found if isinstance(found, dict) else {}
