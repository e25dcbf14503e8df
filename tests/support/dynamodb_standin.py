"""A tiny stand-in DynamoDB endpoint for the rules of AWS's API reference that neither moto nor
dynalite follows (or that only a slow or throttled DynamoDB shows): each test scripts the
answers and reads the requests it got.
"""

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any] | bytes]]
TARGET_PREFIX = "DynamoDB_20120810."


@dataclass
class Received:
    """One request: when it arrived (monotonic), its operation, its JSON body."""

    at: float
    operation: str
    body: dict[str, Any]
    size: int  # bytes of the body


@dataclass
class StandIn:
    url: str
    received: list[Received] = field(default_factory=list)

    def of(self, operation: str) -> list[Received]:
        return [r for r in self.received if r.operation == operation]


def error(code: str, message: str = "", status: int = 400, **extra: Any) -> tuple[int, dict]:
    """An error answer as DynamoDB shapes it."""
    return status, {
        "__type": f"com.amazonaws.dynamodb.v20120810#{code}",
        "message": message,
        **extra,
    }


@contextmanager
def stand_in(answer: Answer) -> Iterator[StandIn]:
    """The endpoint on a free loopback port, answering each request with `answer`."""
    received: list[Received] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as clients expect

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            operation = self.headers.get("X-Amz-Target", "").removeprefix(TARGET_PREFIX)
            body = json.loads(raw or b"{}")
            with lock:
                received.append(Received(time.monotonic(), operation, body, len(raw)))
            status, reply = answer(operation, body)
            text = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield StandIn(f"http://127.0.0.1:{server.server_address[1]}", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
