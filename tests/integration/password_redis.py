"""A redis-server of a test's own that requires a password (AUTH)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from streams.stack.process import ManagedProcess, free_port, wait_until
from streams.stack.services import RedisService

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


@contextmanager
def password_redis(folder: Path) -> Iterator[PasswordRedis]:
    service = PasswordRedis(free_port(), folder)
    service.prepare()
    service.process().start()
    try:
        assert wait_until(service.ready, 30), service.process().log_tail()
        yield service
    finally:
        service.process().stop()
