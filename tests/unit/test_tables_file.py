"""CDC_TABLES_FILE: tables declared in a TOML or YAML file, checked at start."""

import subprocess
import sys
from pathlib import Path

import pytest

from streams.model.errors import ConfigError
from streams.model.tables import OPPONENTS, TableSpec
from streams.settings import load_settings

OPPONENTS_TOML = """
[opponents]
partition_key = "owner_id"
sort_key = "opponent_id"
dynamodb_table = "opponents"
index_attribute = "timestamp"

[users]
partition_key = "id"
"""

OPPONENTS_YAML = """
opponents:
  partition_key: owner_id
  sort_key: opponent_id
  dynamodb_table: opponents
  index_attribute: timestamp
users:
  partition_key: id
"""


@pytest.fixture(autouse=True)
def no_tables_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDC_TABLES", raising=False)
    monkeypatch.delenv("CDC_TABLES_FILE", raising=False)


@pytest.mark.parametrize(("name", "text"), [("t.toml", OPPONENTS_TOML), ("t.yaml", OPPONENTS_YAML)])
def test_a_file_declares_the_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str
) -> None:
    (tmp_path / name).write_text(text)
    monkeypatch.setenv("CDC_TABLES_FILE", str(tmp_path / name))
    settings = load_settings()
    assert settings.tables == {"opponents": OPPONENTS, "users": TableSpec(partition_key="id")}
    # A worker in another process gets the tables themselves, not a path it may not see.
    env = settings.as_env()
    assert "CDC_TABLES_FILE" not in env and '"users"' in env["CDC_TABLES"]


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("t.toml", '[opponents]\nsort_key = "s"\n', "table 'opponents', field 'partition_key': "
         "Field required"),
        ("t.toml", '[o]\npartition_key = "a"\nsort_key = 7\n', "table 'o', field 'sort_key': "),
        ("t.toml", '[o]\npartition_key = "a"\nsort_ky = "b"\n', "table 'o', field 'sort_ky': "
         "Extra inputs are not permitted"),
        ("t.toml", '[o]\npartition_key = "a"\nindex_attribute = "t"\n',
         "table 'o': index_attribute needs a sort_key"),
        ("t.toml", "[o\n", "not valid TOML"),
        ("t.yml", "o: [unclosed\n", "not valid YAML"),
        ("t.yaml", "- a\n- b\n", "expected a mapping of table names to tables"),
        ("t.toml", "", "expected a mapping of table names to tables"),
        ("missing.toml", None, "cannot read it (FileNotFoundError"),
        ("t.json", '{"o": {"partition_key": "a"}}',
         "extension '.json' is not supported: name it .toml, .yaml or .yml"),
        ("tables", '[o]\npartition_key = "a"\n', "no extension: name it .toml"),
    ],
)  # fmt: skip
def test_a_bad_file_is_one_line_naming_file_table_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str | None, says: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    monkeypatch.setenv("CDC_TABLES_FILE", str(path))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"CDC_TABLES_FILE: {path}: "), message
    assert says in message and "\n" not in message, message


def test_a_tables_redis_section_is_read_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.toml"
    path.write_text(OPPONENTS_TOML + LEGACY_LAYOUT)
    monkeypatch.setenv("CDC_TABLES_FILE", str(path))
    redis = load_settings().tables["opponents"].redis
    assert (redis.layout, redis.key, redis.value_attribute) == (
        "template", "opponent:{owner_id}:{opponent_id}", "metadata"
    )  # fmt: skip
    path.write_text(OPPONENTS_TOML + LEGACY_LAYOUT.replace('"template"', '"lists"'))
    with pytest.raises(ConfigError, match=r"field 'redis\.layout': Input should"):
        load_settings()


LEGACY_LAYOUT = """
[opponents.redis]
layout = "template"
index_key = "opponents:{owner_id}"
key = "opponent:{owner_id}:{opponent_id}"
value_attribute = "metadata"
"""


def test_both_variables_are_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "t.toml").write_text(OPPONENTS_TOML)
    monkeypatch.setenv("CDC_TABLES_FILE", str(tmp_path / "t.toml"))
    monkeypatch.setenv("CDC_TABLES", '{"t": {"partition_key": "id"}}')
    with pytest.raises(ConfigError, match=r"^CDC_TABLES and CDC_TABLES_FILE are both set"):
        load_settings()


def test_the_cli_says_a_bad_file_in_one_line_with_exit_code_2(tmp_path: Path) -> None:
    path = tmp_path / "tables.toml"
    path.write_text('[opponents]\npartition_key = "owner_id"\nsort_key = ["x"]\n')
    env = {"PATH": "/usr/bin:/bin", "CDC_TABLES_FILE": str(path)}
    done = subprocess.run([sys.executable, "-m", "streams.cli.main", "schema"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        f"error: CDC_TABLES_FILE: {path}: table 'opponents', field 'sort_key': "
        "Input should be a valid string\n"
    )
