"""The worker starts from any folder, and stops (rather than retrying) on refused credentials."""

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from streams.devstack.process import ManagedProcess, free_port, port_open, wait_until
from streams.devstack.services import DynamoDBService
from streams.worker.run import prepare
from tests.conftest import Services
from tests.support import upsert
from tests.support.password_redis import PASSWORD, password_redis
from tests.support.worker import WorkerProcess, committed, fetch, publish, wait_for_fold

pytestmark = pytest.mark.integration


def test_the_worker_keeps_its_state_under_the_stack_dir_from_any_folder(
    services: Services, tmp_path: Path
) -> None:
    settings = services.settings()
    asyncio.run(prepare(settings, ["redis", "dynamodb"]))
    elsewhere, stack_dir = tmp_path / "elsewhere", tmp_path / "state"
    elsewhere.mkdir()
    worker = WorkerProcess(services, settings, tmp_path / "worker.log")
    del worker.env["CDC_DATA_DIR"]
    worker.env["CDC_STACK_DIR"] = str(stack_dir)
    worker.cwd = elsewhere  # no .stack here
    events = [upsert("owner", "p", 7)]
    asyncio.run(publish(settings, events))
    worker.start()
    try:
        wait_for_fold(settings, events, worker, timeout=120)
    finally:
        worker.stop()
    assert (stack_dir / "worker").is_dir()
    assert list(elsewhere.iterdir()) == []


def test_a_wrong_redis_password_stops_the_worker_with_one_line(
    services: Services, tmp_path: Path
) -> None:
    with password_redis(tmp_path / "redis") as redis_server:
        settings = services.settings(redis_url=redis_server.url())
        asyncio.run(prepare(settings, ["dynamodb"]))  # Redis, without its password, would refuse
        asyncio.run(publish(settings, [upsert("owner", "p", 7)]))
        worker = WorkerProcess(services, settings, tmp_path / "worker.log")
        worker.env["CDC_REDIS_PASSWORD"] = "not-" + PASSWORD
        code = _exit_code(worker.start())
    log = worker.log.read_text()
    assert code == 2, log
    assert log.splitlines()[-1].startswith("error: redis refused access (AuthenticationError")
    assert "Traceback" not in log and PASSWORD not in log


@pytest.mark.parametrize("password", ["not-" + PASSWORD, None])  # WRONGPASS, NOAUTH
def test_a_refused_redis_password_stops_an_idle_worker_at_start(
    services: Services, tmp_path: Path, password: str | None
) -> None:
    """No event ever arrives: the refusal is found by the agent's start, not by a write."""
    with password_redis(tmp_path / "redis") as redis_server:
        settings = services.settings(redis_url=redis_server.url())
        worker = WorkerProcess(services, settings, tmp_path / "worker.log")
        if password is not None:
            worker.env["CDC_REDIS_PASSWORD"] = password
        code = worker.start().exit_code(timeout=60)
    log = worker.log.read_text()
    assert code == 2, log
    assert log.splitlines()[-1].startswith("error: redis refused access (AuthenticationError")
    assert "Traceback" not in log and PASSWORD not in log


def test_a_table_the_worker_creates_is_never_reported_as_not_answering(
    services: Services, tmp_path: Path
) -> None:
    port = free_port()
    settings = services.settings(web_enabled=True, web_port=port)  # its table does not exist
    worker = WorkerProcess(services, settings, tmp_path / "worker.log").start()
    try:
        assert wait_until(lambda: _ready(port), 90), worker.log_tail()
    finally:
        worker.stop()
    log = worker.log.read_text()
    assert "created DynamoDB tables" in log, log
    assert "not answering" not in log, log


def _ready(port: int) -> bool:
    try:
        return bool(json.loads(fetch(f"http://127.0.0.1:{port}/ready"))["status"] == "ok")
    except OSError:
        return False


def test_refused_dynamodb_credentials_stop_the_worker_with_one_line(
    services: Services, tmp_path: Path
) -> None:
    dynamodb = AuthenticatingMoto(free_port(), tmp_path)
    process = dynamodb.process()
    process.start()
    try:
        assert wait_until(lambda: port_open(dynamodb.port), 60), process.log_tail()
        settings = services.settings(dynamodb_endpoint_url=f"http://127.0.0.1:{dynamodb.port}")
        worker = WorkerProcess(services, settings, tmp_path / "worker.log")
        worker.env |= {"CDC_AWS_ACCESS_KEY_ID": "AKIAUNKNOWN",
                       "CDC_AWS_SECRET_ACCESS_KEY": "wrong-secret"}  # fmt: skip
        code = _exit_code(worker.start())
    finally:
        process.stop()
    log = worker.log.read_text()
    assert code == 2, log
    assert log.splitlines()[-1].startswith("error: dynamodb refused access (ClientError")
    assert "Traceback" not in log and "wrong-secret" not in log


class AuthenticatingMoto(DynamoDBService):
    """moto checking every request's credentials against its IAM: unknown keys are refused."""

    def process(self) -> ManagedProcess:
        proc = super().process()
        proc.env = {**proc.env, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
        return proc


def _exit_code(worker: WorkerProcess, timeout: float = 90) -> int | None:
    """The worker's exit code, or None if it was still running after `timeout` (then killed)."""
    assert worker.proc is not None
    try:
        return worker.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        worker.stop()
        return None


def test_a_crashed_agent_stops_the_worker_with_exit_code_1_naming_it(
    services: Services, tmp_path: Path
) -> None:
    """A bug in a store's write crashes its agent: the worker exits 1 (for a supervisor to
    restart it) instead of living on with a dead agent, and nothing is committed past it."""
    settings = services.settings()
    asyncio.run(prepare(settings, ["redis", "dynamodb"]))
    asyncio.run(publish(settings, [upsert("owner", "p", 7)]))
    worker = WorkerProcess(services, settings, tmp_path / "worker.log")
    worker.module = "tests.support.buggy_worker"
    worker.env["CDC_TEST_BUGGY_STORE"] = "redis"
    code = _exit_code(worker.start())
    log = worker.log.read_text()
    assert code == 1, log
    crashed = [line for line in log.splitlines() if "Crashed reason=RuntimeError" in line]
    assert crashed and "apply-redis" in crashed[0], log  # Faust's line names the agent
    assert "replication stopped by an unexpected error" in log
    assert not any(p.committed for p in committed(settings, ["redis"]))
