"""Which declarations could write one Redis key for two purposes, and the other checks of
declared layouts that need no Redis."""

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.model.errors import REASONS, InvalidEventError
from streams.model.events import build_event
from streams.model.redis_key_space import clash, common_key, template_warnings
from streams.model.tables import OPPONENTS, TableSpec
from streams.settings import Settings
from streams.worker.metrics import ReplicationMetrics

LEGACY = {"layout": "template", "index_key": "opponents:{owner_id}",
        "key": "opponent:{owner_id}:{opponent_id}", "value_attribute": "metadata"}  # fmt: skip


def table(**redis: str | None) -> TableSpec:
    return TableSpec.model_validate({**OPPONENTS.model_dump(), "redis": redis})


def test_the_legacy_apps_templates_and_the_defaults_share_no_key() -> None:
    tables = {"opponents": table(**LEGACY), "sessions": table(layout="hash"),
              "events": table(layout="template"), "plain": OPPONENTS}  # fmt: skip
    assert clash(tables, "cdc") is None


def test_two_tables_with_the_same_templates_are_named() -> None:
    problem = clash({"opponents": table(**LEGACY), "copy": table(**LEGACY)}, "cdc")
    assert problem == (
        "tables opponents and copy can write the same Redis key for two purposes: opponents's "
        "redis.key 'opponent:{owner_id}:{opponent_id}' and copy's redis.key "
        "'opponent:{owner_id}:{opponent_id}' both render 'opponent:x:x'; give one of them a "
        "fixed text the other cannot render (say, another start)"
    )


def test_an_items_key_that_can_be_another_tables_listing_is_named() -> None:
    other = table(layout="template", key="opponents:{owner_id}-{opponent_id}",
                  index_key="others:{owner_id}")  # fmt: skip
    problem = clash({"opponents": table(**LEGACY), "other": other}, "cdc")
    assert problem is not None
    assert "opponents's redis.index_key 'opponents:{owner_id}'" in problem
    assert "other's redis.key 'opponents:{owner_id}-{opponent_id}'" in problem
    assert "both render 'opponents:x-x'" in problem


def test_a_tables_listing_that_can_be_its_own_items_key_is_named() -> None:
    problem = clash({"t": table(layout="template", key="o:{owner_id}:{opponent_id}",
                                index_key="o:{owner_id}")}, "cdc")  # fmt: skip
    assert problem is not None and problem.startswith("table t can write the same Redis key")


def test_a_template_reaching_into_the_replicators_own_keys_is_named() -> None:
    problem = clash({"t": table(layout="hash", key="cdc:{owner_id}:{opponent_id}")}, "cdc")
    assert problem is not None
    assert "'cdc:{owner_id}:{opponent_id}' can render 'cdc:v:x'" in problem
    assert "CDC_REDIS_KEY_PREFIX 'cdc'" in problem
    fine = table(layout="hash", key="cdc:o:{owner_id}:{opponent_id}", index_key="cdc:i:{owner_id}")
    assert clash({"t": fine}, "cdc") is None  # under the prefix, apart from its keys


def test_settings_refuse_tables_that_share_a_key_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tables = {"opponents": {**OPPONENTS.model_dump(), "redis": LEGACY},
              "copy": {**OPPONENTS.model_dump(), "redis": LEGACY}}  # fmt: skip
    with pytest.raises(ValueError, match="tables opponents and copy can write the same Redis key"):
        Settings.model_validate({"tables": tables})


def test_init_warns_about_placeholders_that_touch() -> None:
    glued = table(layout="template", key="o:{owner_id}{opponent_id}", index_key="os:{owner_id}")
    [warning] = template_warnings({"t": glued, "seed": table(**LEGACY)})
    assert warning.startswith(
        "table t's redis.key 'o:{owner_id}{opponent_id}' has no fixed text between "
        "{owner_id} and {opponent_id}"
    )


def test_a_ts_in_milliseconds_is_refused_on_a_lifetime_table() -> None:
    spec = TableSpec.model_validate({**OPPONENTS.model_dump(),
                                     "expiry": {"lifetime_seconds": 60}})  # fmt: skip
    fields = {"table": "opponents", "op": "upsert", "key": {"owner_id": "o", "opponent_id": "p"},
              "data": {"timestamp": 1}, "origin": "svc", "event_id": "e"}  # fmt: skip
    with pytest.raises(InvalidEventError, match="taken for milliseconds") as caught:
        build_event({**fields, "ts": 1_700_000_000_000}, {"opponents": spec})
    assert caught.value.reason == "bad_data"
    build_event({**fields, "ts": 1_700_000_000_000_000}, {"opponents": spec})


def test_a_key_collision_is_a_dead_letter_reason_counted_from_zero() -> None:
    assert "key_collision" in REASONS
    text = ReplicationMetrics(["redis"]).registry.get_sample_value(
        "cdc_dead_letters_total", {"reason": "key_collision"}
    )
    assert text == 0


ALPHABET = "a:"
templates = st.lists(st.sampled_from(["a", ":", "{x}", "{y}"]), min_size=1, max_size=5).map("".join)


@given(templates, templates)
def test_common_key_agrees_with_trying_every_short_key(a: str, b: str) -> None:
    """A placeholder is any non-empty text. A shortest shared key has a character for each
    token at most (one that no token starts could be left out), so keys of up to 10
    characters over a two-letter alphabet show whether two templates of 5 tokens meet."""
    found = common_key(a, b)
    if found is not None:
        assert _renders(a, found) and _renders(b, found), (a, b, found)
        return
    for size in range(1, 11):
        for key in map("".join, itertools.product(ALPHABET, repeat=size)):
            assert not (_renders(a, key) and _renders(b, key)), (a, b, key)


def _renders(template: str, key: str) -> bool:
    pattern = "".join(".+" if len(t) > 1 else re.escape(t)
                      for t in re.findall(r"\{[a-z]+\}|.", template))  # fmt: skip
    return re.fullmatch(pattern, key, re.DOTALL) is not None
