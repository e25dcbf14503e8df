"""The errors chapter (docs/errors.md) names exactly the dead-letter reasons the code has: one
type, `streams.model.errors.Reason`, shared by the letters, the metrics and `dlq replay`."""

import re
from pathlib import Path

from streams.model.errors import REASONS

ERRORS = Path(__file__).resolve().parents[2].joinpath("docs", "errors.md").read_text()


def test_the_dead_letter_reasons_section_names_every_reason_and_no_other() -> None:
    section = ERRORS.split("## Dead-letter reasons", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z_]+)`", section))
    assert named == set(REASONS)
