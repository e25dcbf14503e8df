"""The shipped alert rules: valid (`promtool check rules`) and doing what they say
(`promtool test rules`, with the series in ops/prometheus/alerts.test.yml)."""

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "ops" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: `make test` installs it (apt-get install prometheus)")
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False)


def test_the_rules_file_is_valid() -> None:
    checked = promtool("check", "rules", str(RULES / "alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout


def test_the_rules_fire_and_clear_as_their_unit_tests_expect() -> None:
    tested = promtool("test", "rules", str(RULES / "alerts.test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
