"""Every error the project defines has a row in the one outcomes table (streams.outcomes),
and docs/errors.md shows that table as it is."""

import importlib
import pkgutil
from pathlib import Path

import connectors
import streams
from streams.model.errors import OUTCOMES as WORDS
from streams.model.errors import ReplicatorError
from streams.outcomes import OUTCOMES, worker_retries
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
