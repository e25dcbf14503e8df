"""Declared tables read from a TOML or YAML file (`CDC_TABLES_FILE`), same schema as `CDC_TABLES`.

A table's declaration (its Redis layout, and later its topic and columns) outgrows a JSON string
in one variable. The file maps table names to their specs:

    [opponents]
    partition_key = "owner_id"
    sort_key = "opponent_id"

Every error is one line naming the file, the table and the field.
"""

import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from streams.model.table_errors import one_line, table_problem
from streams.model.tables import TableSpec

VARIABLE = "CDC_TABLES_FILE"
YAML_SUFFIXES = (".yaml", ".yml")
SUFFIXES = (".toml", *YAML_SUFFIXES)


class TablesFileError(ValueError):
    """The file is missing, unparsable or declares a bad table; the message is one line."""


def load_tables_file(path: str) -> dict[str, TableSpec]:
    """The tables `path` declares, each validated; TablesFileError otherwise."""
    raw = _parse(Path(path))
    if not isinstance(raw, dict) or not raw:
        raise _error(path, "expected a mapping of table names to tables, with at least one")
    return {str(name): _table(path, str(name), spec) for name, spec in raw.items()}


def _parse(path: Path) -> object:
    if path.suffix.lower() not in SUFFIXES:  # a JSON file would otherwise be "not valid TOML"
        found = f"extension {path.suffix!r} is not supported" if path.suffix else "no extension"
        raise _error(str(path), f"{found}: name it .toml, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(str(path), f"cannot read it ({type(exc).__name__}: {exc})") from None
    try:
        if path.suffix.lower() in YAML_SUFFIXES:
            return yaml.safe_load(text)
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        kind = "YAML" if path.suffix.lower() in YAML_SUFFIXES else "TOML"
        raise _error(str(path), f"not valid {kind} ({_one_line(str(exc))})") from None


def _table(path: str, name: str, spec: Any) -> TableSpec:
    try:
        return TableSpec.model_validate(spec)
    except ValidationError as exc:
        problems = [table_problem(name, error, error["loc"]).named() for error in exc.errors()]
        raise _error(path, _one_line(one_line(problems))) from None


def _error(path: str, message: str) -> TablesFileError:
    return TablesFileError(f"{VARIABLE}: {path}: {message}")


def _one_line(text: str) -> str:
    return " ".join(text.split())
