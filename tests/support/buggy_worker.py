"""`python -m tests.support.buggy_worker worker ...`: the real worker, but the store named
by CDC_TEST_BUGGY_STORE raises an unexpected error (a bug, not an outage) on every write."""

import os
import sys
from typing import NoReturn

import streams.worker.run
from connectors.store import Batch, Store, WriteOutcome
from streams.cli.main import main
from streams.settings import Settings
from streams.stores import open_store


def open_buggy_store(settings: Settings, name: str) -> Store:
    store = open_store(settings, name)
    if name == os.environ["CDC_TEST_BUGGY_STORE"]:

        async def write(batch: Batch) -> WriteOutcome:
            raise RuntimeError(f"a bug in the {name} store's write")

        store.write = write  # type: ignore[method-assign]
    return store


def run() -> NoReturn:
    streams.worker.run.open_store = open_buggy_store
    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":
    run()
