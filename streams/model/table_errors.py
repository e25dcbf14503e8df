"""What is wrong with a declared table, naming the table and the field: one reading of
pydantic's errors for CDC_TABLES and CDC_TABLES_FILE alike."""

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from streams.model.redis_layout_spec import RedisLayoutSpec
from streams.model.tables import TableSpec

SHOWN = 3  # problems in one line; the rest are counted


@dataclass(frozen=True)
class TableProblem:
    table: str
    field: str  # dotted (`redis.key`); empty for the table as a whole
    message: str

    def dotted(self) -> str:
        """As CDC_TABLES says it: `t.partition_key: Field required`."""
        return f"{'.'.join(filter(None, (self.table, self.field)))}: {self.message}"

    def named(self) -> str:
        """As CDC_TABLES_FILE says it: `table 't', field 'partition_key': Field required`."""
        field = f", field {self.field!r}" if self.field else ""
        return f"table {self.table!r}{field}: {self.message}"


def table_problem(table: str, error: ErrorDetails, inside: Sequence[int | str]) -> TableProblem:
    """`error`, found at `inside` within `table`'s declaration, in words."""
    field = ".".join(map(str, inside))
    return TableProblem(table, field, _message(error, inside))


def _message(error: ErrorDetails, inside: Sequence[int | str]) -> str:
    kind = error["type"]
    if kind == "value_error":  # our validators' own words, without pydantic's prefix
        return str((error.get("ctx") or {}).get("error") or error["msg"])
    if kind == "extra_forbidden":
        meant = _meant(inside)
        return f"{error['msg']} (did you mean {meant!r}?)" if meant else error["msg"]
    if kind == "model_type":
        got = type(error["input"]).__name__
        return f"expected a mapping of field names to values, got {got}"
    return error["msg"]


def _meant(inside: Sequence[int | str]) -> str | None:
    """The known field an unknown one is close to: a typo, most likely."""
    model: type[BaseModel] = RedisLayoutSpec if inside[:1] == ("redis",) else TableSpec
    close = difflib.get_close_matches(str(inside[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return close[0] if close else None


def one_line(problems: Sequence[str], others: int = 0) -> str:
    """The first few problems, and how many more there are (`others` besides these)."""
    more = max(0, len(problems) - SHOWN) + others
    return "; ".join(problems[:SHOWN]) + (f" (and {more} more)" if more > 0 else "")
