"""Kafka Connect's REST API, the calls the replicator makes: the connectors with their configs
and states, a config's validation, a connector's registration and status.

Blocking (urllib): the CLI calls it directly, the worker in a thread, every few seconds.
"""

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.model.errors import ReplicatorError

TIMEOUT_SECONDS = 10.0  # Debezium's validation connects to the database: it takes seconds
RUNNING = "RUNNING"
JAVA_PACKAGE = re.compile(r"^(?:[a-z_$][\w$]*\.)+(?=[A-Z])")  # org.apache...ConnectException


class ConnectUnreachableError(ReplicatorError):
    """Nothing answers at the URL, or not in time."""


class ConnectAnswerError(ReplicatorError):
    """Connect answered with an HTTP error; `status` is its code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TaskState:
    id: int
    state: str  # RUNNING, FAILED, PAUSED, UNASSIGNED, RESTARTING
    trace: str | None = None  # a failed task's Java stack trace

    def cause(self) -> str:
        """A failed task's cause in one line: the innermost `Caused by` of its trace."""
        lines = [line.strip() for line in (self.trace or "").splitlines() if line.strip()]
        causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused")]
        cause = causes[-1] if causes else (lines[0] if lines else "no trace given")
        return JAVA_PACKAGE.sub("", cause, count=1)[:300]


@dataclass(frozen=True)
class Connector:
    """A connector as Connect reports it: its config, its own state and its tasks'."""

    name: str
    config: Mapping[str, str] = field(default_factory=dict)
    state: str = "UNASSIGNED"
    tasks: tuple[TaskState, ...] = ()

    @property
    def running(self) -> bool:
        """Running means running tasks: a RUNNING connector with no task (yet) moves nothing."""
        return (
            self.state == RUNNING
            and bool(self.tasks)
            and all(task.state == RUNNING for task in self.tasks)
        )

    @property
    def overall(self) -> str:
        """One state for the whole: the connector's own unless RUNNING, then its tasks'
        (FAILED first), UNASSIGNED while it has none."""
        if self.state != RUNNING:
            return self.state
        if not self.tasks:
            return "UNASSIGNED"
        states = [task.state for task in self.tasks if task.state != RUNNING]
        return "FAILED" if "FAILED" in states else (states[0] if states else RUNNING)

    def describe(self) -> str:
        """`app: RUNNING, 1 task` or `app: task 0 FAILED (cause)`, in one line."""
        if self.state != RUNNING:
            return f"connector {self.name} {self.state}"
        if not self.tasks:
            return f"connector {self.name} RUNNING with no task yet"
        troubled = [task for task in self.tasks if task.state != RUNNING]
        if not troubled:
            count = len(self.tasks)
            return f"connector {self.name} RUNNING, {count} task{'s' if count > 1 else ''}"
        task = troubled[0]
        cause = f" ({task.cause()})" if task.state == "FAILED" else ""
        return f"connector {self.name} task {task.id} {task.state}{cause}"


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    message: str


@dataclass(frozen=True)
class Validation:
    """Connect's verdict on a config: each setting's errors, and every setting it knows."""

    problems: tuple[ConfigProblem, ...]
    known: frozenset[str]


class ConnectClient:
    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def connectors(self) -> list[Connector]:
        """Every connector with its config and status, in one call."""
        answer = self._call("GET", "/connectors?expand=status&expand=info")
        return [_connector(name, each) for name, each in sorted(answer.items())]

    def connector(self, name: str) -> Connector | None:
        """One connector, None when Connect has none of that name."""
        try:
            config = self._call("GET", f"/connectors/{_quoted(name)}/config")
            status = self._call("GET", f"/connectors/{_quoted(name)}/status")
        except ConnectAnswerError as exc:
            if exc.status == 404:
                return None
            raise
        return _connector(name, {"info": {"config": config}, "status": status})

    def task_configs(self, name: str) -> list[dict[str, str]]:
        """The config each task of `name` was given ([] before it has tasks)."""
        try:
            tasks = self._call("GET", f"/connectors/{_quoted(name)}/tasks")
        except ConnectAnswerError as exc:
            if exc.status in (404, 409):  # not there yet, or being rebalanced
                return []
            raise
        return [dict(task.get("config") or {}) for task in tasks or []]

    def validate(self, config: Mapping[str, str]) -> Validation:
        """`PUT /connector-plugins/<class>/config/validate`: unlike a registration, which
        answers a typo with a Java NullPointerException, it names each setting's errors."""
        plugin = _quoted(config.get("connector.class", ""))
        answer = self._call("PUT", f"/connector-plugins/{plugin}/config/validate", dict(config))
        problems, known = [], set()
        for entry in answer.get("configs", []):
            value = entry.get("value") or {}  # some settings come without one
            name = value.get("name") or entry.get("definition", {}).get("name", "")
            known.add(name)
            errors = value.get("errors") or []
            problems += [ConfigProblem(name, " ".join(str(error).split())) for error in errors]
        return Validation(tuple(problems), frozenset(known))

    def put_config(self, name: str, config: Mapping[str, str]) -> bool:
        """Register or update the connector `name`; True when it is new."""
        status, _ = self._send("PUT", f"/connectors/{_quoted(name)}/config", dict(config))
        return status == 201

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return self._send(method, path, body)[1]

    def _send(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 -- CDC_CONNECT_URL, checked to be http
            self.url + path, data=data, method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 -- as above
                return answer.status, json.loads(answer.read() or b"null")
        except ValueError as exc:  # not JSON: something else listens there
            raise ConnectUnreachableError(
                f"{self.url} (CDC_CONNECT_URL) does not answer as Kafka Connect does ({exc})"
            ) from exc
        except urllib.error.HTTPError as exc:
            raise ConnectAnswerError(exc.code, self._refusal(exc)) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConnectUnreachableError(
                f"cannot reach Kafka Connect at {self.url} (CDC_CONNECT_URL): {reason}"
            ) from exc

    def _refusal(self, exc: urllib.error.HTTPError) -> str:
        try:
            detail = str(json.loads(exc.read()).get("message", ""))
        except (ValueError, AttributeError, OSError):
            detail = exc.reason
        return f"Kafka Connect at {self.url} answered {exc.code}: {' '.join(detail.split())[:300]}"


def _connector(name: str, expanded: Mapping[str, Any]) -> Connector:
    status = expanded.get("status") or {}
    tasks = tuple(
        TaskState(int(task.get("id", 0)), str(task.get("state")), task.get("trace"))
        for task in status.get("tasks", [])
    )
    config = (expanded.get("info") or {}).get("config") or {}
    state = str((status.get("connector") or {}).get("state", "UNASSIGNED"))
    return Connector(name, {str(k): str(v) for k, v in config.items()}, state, tasks)


def _quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="")
