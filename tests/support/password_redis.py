"""Redis servers of a test's own: one that requires a password (AUTH), and how to run one."""

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TypeVar

import redis

from streams.devstack.process import ManagedProcess, free_port, wait_until
from streams.devstack.services import RedisService

PASSWORD = "legacy-Secret-8086"


class PasswordRedis(RedisService):
    def process(self) -> ManagedProcess:
        proc = super().process()
        proc.argv = [*proc.argv, "--requirepass", PASSWORD]
        return proc

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ready(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, password=PASSWORD, socket_timeout=2).ping())
        except (redis.exceptions.RedisError, OSError):
            return False


Own = TypeVar("Own", bound=RedisService)


@contextmanager
def running(service: Own) -> Iterator[Own]:
    """A redis-server of the test's own, started until ready and stopped after."""
    service.prepare()
    service.process().start()
    try:
        assert wait_until(service.ready, 30), service.process().log_tail()
        yield service
    finally:
        service.process().stop()


def password_redis(folder: Path) -> "AbstractContextManager[PasswordRedis]":
    return running(PasswordRedis(free_port(), folder))
