"""A bad table declaration is one line naming the table and the field, from either variable."""

from pathlib import Path

import pytest

from streams.model.errors import ConfigError
from streams.settings import load_settings


def error_of(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> str:
    monkeypatch.delenv("CDC_TABLES", raising=False)
    monkeypatch.delenv("CDC_TABLES_FILE", raising=False)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("tables", "says"),
    [
        ('{"t": {"partition_key": "a", "index_attribute": "i"}}',
         "CDC_TABLES: t: index_attribute needs a sort_key"),
        ('{"t": {"partition_key": "a"}, "u": {"sort_key": "s"}}',
         "CDC_TABLES: u.partition_key: Field required"),
        ('{"t": {"sortkey": "s"}}', "CDC_TABLES: t.partition_key: Field required; "
         "t.sortkey: Extra inputs are not permitted (did you mean 'sort_key'?)"),
        ('{"t": {"partition_key": "a", "redis": {"keys": "k"}}}',
         "CDC_TABLES: t.redis.keys: Extra inputs are not permitted (did you mean 'key'?)"),
        ('{"t": {"partition_key": 7}}', "CDC_TABLES: t.partition_key: Input should be a valid "
         "string"),
        ('{"t": "owner_id"}', "CDC_TABLES: t: expected a mapping of field names to values, "
         "got str"),
        ('{"t": {"a": 1, "b": 2, "c": 3, "d": 4}}', "(and 2 more)"),
    ],
)  # fmt: skip
def test_cdc_tables_names_the_table_and_the_field(
    monkeypatch: pytest.MonkeyPatch, tables: str, says: str
) -> None:
    message = error_of(monkeypatch, "CDC_TABLES", tables)
    assert says in message, message


def test_a_tables_file_names_them_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "tables.toml"
    path.write_text('[t]\nsortkey = "s"\n')
    message = error_of(monkeypatch, "CDC_TABLES_FILE", str(path))
    assert message == (
        f"CDC_TABLES_FILE: {path}: table 't', field 'partition_key': Field required; "
        "table 't', field 'sortkey': Extra inputs are not permitted (did you mean 'sort_key'?)"
    )
