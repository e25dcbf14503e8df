"""Every error the project defines has a row in the one outcomes table (streams.outcomes),
and docs/errors.md shows that table as it is."""

import argparse
import importlib
import pkgutil
from pathlib import Path
from typing import get_args

import pytest
from redis import exceptions as rexc

import connectors
import streams
from connectors.store import WriteErrorOutcome
from streams.cli.main import run_command
from streams.model.errors import OUTCOMES as WORDS
from streams.model.errors import ConfigError, ReplicatorError
from streams.outcomes import OUTCOMES, handling_of, worker_retries
from streams.pipeline.debezium_values import UndecodableError
from streams.worker.startup import STARTUP_TRANSIENT

ERRORS = Path(__file__).resolve().parents[2].joinpath("docs", "errors.md").read_text()


def project_errors() -> set[type[BaseException]]:
    """Every exception class defined in a module of streams/ or connectors/."""
    found: set[type[BaseException]] = set()
    for package in (streams, connectors):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if module.name.endswith("__main__"):  # runs the CLI when imported
                continue
            loaded = importlib.import_module(module.name)
            found.update(
                value
                for value in vars(loaded).values()
                if isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.name
            )
    return found


def subclasses(root: type[BaseException]) -> set[type[BaseException]]:
    found = set(root.__subclasses__())
    for cls in list(found):
        found |= subclasses(cls)
    return found


def test_every_replicator_error_has_an_outcome() -> None:
    project_errors()  # imported, so that every subclass is defined
    missing = {cls.__qualname__ for cls in subclasses(ReplicatorError) if cls not in OUTCOMES}
    assert missing == set()


def test_every_error_class_the_project_defines_has_an_outcome() -> None:
    missing = {cls.__qualname__ for cls in project_errors() if cls not in OUTCOMES}
    assert missing == set()


def test_outcomes_are_the_four_words() -> None:
    for handling in OUTCOMES.values():
        assert handling.command is None or handling.command in WORDS
        assert handling.worker is None or handling.worker in WORDS


def test_the_worker_waits_at_start_for_what_the_table_retries() -> None:
    assert set(STARTUP_TRANSIENT) == set(worker_retries())


def outcomes_markdown() -> str:
    lines = ["| error | a command | the worker | note |", "|---|---|---|---|"]
    for error, handling in OUTCOMES.items():
        command, worker = handling.command or "-", handling.worker or "-"
        name = f"{error.__module__}.{error.__qualname__}"
        lines.append(f"| `{name}` | {command} | {worker} | {handling.note} |")
    return "\n".join(lines)


def test_the_errors_chapter_shows_the_outcomes_table() -> None:
    section = ERRORS.split("## What becomes of an error", 1)[1].split("\n## ", 1)[0]
    assert outcomes_markdown() in section, outcomes_markdown()


def test_a_stores_write_errors_read_in_the_tables_words() -> None:
    assert set(get_args(WriteErrorOutcome)) <= set(WORDS)


def test_an_error_takes_its_closest_listed_bases_row() -> None:
    assert handling_of(rexc.ResponseError) == OUTCOMES[rexc.RedisError]
    assert handling_of(rexc.AuthenticationError) == OUTCOMES[rexc.AuthenticationError]
    assert handling_of(FileNotFoundError) == OUTCOMES[OSError]
    assert handling_of(KeyError) is None


def command(error: BaseException) -> argparse.Namespace:
    def handler(settings: object, args: object) -> int:
        raise error

    return argparse.Namespace(handler=handler)


@pytest.mark.parametrize(
    "error",
    [ConfigError("bad setting"), rexc.ResponseError("WRONGTYPE"), FileNotFoundError("no file"),
     rexc.AuthenticationError("invalid password")],
)  # fmt: skip
def test_a_command_exits_2_in_one_line_on_what_the_table_says(
    error: BaseException, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command(command(error), None) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_a_bug_keeps_its_traceback() -> None:
    with pytest.raises(KeyError):
        run_command(command(KeyError("bug")), None)
    with pytest.raises(UndecodableError):  # never reaches a command but as a bug
        run_command(command(UndecodableError("x")), None)
