"""An instant DynamoDB endpoint: every write succeeds at once, so only the client's cost is left.

    python -m bench.dynamodb_endpoint PORT

Runs in a process of its own on loopback and answers the calls the store and a worker make
(PutItem, TransactWriteItems, BatchGetItem, GetItem, DescribeTable, DescribeTimeToLive) with
correctly shaped replies and no work behind them: a bench of our DynamoDB client (or a whole
worker) against it measures the client's CPU per item and its ceiling per process, with no
emulator in the way. Every table is the default table's definition, with TTL enabled. A bare
asyncio protocol, not http.server, so that the endpoint costs far less per request than the
client it measures.
"""

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from connectors.dynamodb.items import EXPIRES_ATTR
from connectors.dynamodb.schema import table_definition
from streams.devstack.process import free_port
from streams.model.tables import OPPONENTS

TARGET = b"x-amz-target: dynamodb_20120810."
READY = "ready"


def answer(operation: str, body: bytes) -> tuple[int, bytes]:
    """The HTTP status and JSON reply for one call, as DynamoDB shapes it."""
    if operation in ("PutItem", "TransactWriteItems", "GetItem", "DeleteItem", "UpdateItem"):
        return 200, b"{}"
    request = json.loads(body)
    if operation == "BatchGetItem":
        tables: dict[str, list[object]] = {name: [] for name in request["RequestItems"]}
        return 200, json.dumps({"Responses": tables, "UnprocessedKeys": {}}).encode()
    if operation == "DescribeTable":
        table = table_definition(request["TableName"], OPPONENTS) | {"TableStatus": "ACTIVE"}
        return 200, json.dumps({"Table": table}).encode()
    if operation == "DescribeTimeToLive":
        ttl = {"TimeToLiveStatus": "ENABLED", "AttributeName": EXPIRES_ATTR}
        return 200, json.dumps({"TimeToLiveDescription": ttl}).encode()
    error = {"__type": "com.amazon.coral.service#UnknownOperationException", "message": operation}
    return 400, json.dumps(error).encode()


class _Connection(asyncio.Protocol):
    """HTTP/1.1 keep-alive: requests are read whole (headers, then Content-Length bytes)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport = cast(asyncio.Transport, None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (request := self._next_request()) is not None:
            self._reply(*answer(*request))

    def _next_request(self) -> tuple[str, bytes] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buffer[: end + 2]  # each header line ends in CRLF, the last one too
        lower = head.lower()
        length = _header_int(lower, b"content-length: ")
        if len(self.buffer) < end + 4 + length:
            return None
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        at = lower.find(TARGET) + len(TARGET)  # the operation's case matters, not the name's
        return head[at : head.find(b"\r\n", at)].decode(), body

    def _reply(self, status: int, body: bytes) -> None:
        reason = b"OK" if status == 200 else b"Bad Request"
        self.transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.0\r\n"
            b"x-amzn-RequestId: bench\r\nContent-Length: %d\r\n\r\n%s"
            % (status, reason, len(body), body)
        )


def _header_int(head: bytes, name: bytes) -> int:
    at = head.find(name)
    if at < 0:
        return 0
    return int(head[at + len(name) : head.find(b"\r\n", at)] or 0)


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Connection, "127.0.0.1", port)
    print(READY, flush=True)
    async with server:
        await server.serve_forever()


@contextmanager
def instant_endpoint() -> Iterator[tuple[str, int]]:
    """The endpoint in a process of its own on a free port: (its URL, its pid)."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.dynamodb_endpoint", str(port)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        if proc.stdout is None or proc.stdout.readline().strip() != READY:
            raise RuntimeError("the instant DynamoDB endpoint did not start")
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
