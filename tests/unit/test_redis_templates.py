"""Key templates: filling, escaping, reading a member back, hash tags and the cluster check."""

import pytest
from pydantic import ValidationError

from connectors.redis.layouts import ItemLayout, cluster_problem
from connectors.redis.templates import fill, hash_tag, parser
from streams.model.events import ChangeEvent, ItemId
from streams.model.redis_layout_spec import RedisLayoutSpec
from streams.model.tables import OPPONENTS, TableSpec


def test_ids_are_filled_in_as_the_application_writes_them() -> None:
    template = "opponent:{owner_id}:{opponent_id}"
    assert fill(template, {"owner_id": "1,a", "opponent_id": "2,b"}) == "opponent:1,a:2,b"
    values = {"owner_id": "user:7", "opponent_id": "50% {x} y"}
    assert fill(template, values) == "opponent:user:7:50% {x} y"
    assert fill("x:{k}", {"k": "{k}"}) == "x:{k}"  # one pass: a value is never filled again


def test_a_member_is_read_back_exactly() -> None:
    for value in ("2,b", "a:b", "{x}", "%3A", "é", "m:"):
        member = fill("m:{opponent_id}", {"opponent_id": value})
        match = parser("m:{opponent_id}", "opponent_id").fullmatch(member)
        assert match is not None and match["value"] == value


def test_hash_tags() -> None:
    assert hash_tag("opponents:{{owner_id}}") == "{owner_id}"
    assert hash_tag("opponent:{{owner_id}}:{opponent_id}") == "{owner_id}"
    assert hash_tag("opponents:{owner_id}") is None
    assert hash_tag("x:{}:{owner_id}") is None
    # A value before the tag could hold a brace of its own, and move the tag.
    assert hash_tag("{opponent_id}:{{owner_id}}") is None


def layout(**declared: str) -> ItemLayout:
    declared_spec = RedisLayoutSpec.model_validate({"layout": "template", **declared})
    spec = OPPONENTS.model_copy(update={"redis": declared_spec})
    return ItemLayout("opponents", spec, "cdc")


def test_the_cluster_check_wants_one_hash_tag_for_an_items_keys() -> None:
    assert cluster_problem(layout()) is None  # the defaults are tagged
    tagged = layout(index_key="opponents:{{owner_id}}", key="opponent:{{owner_id}}:{opponent_id}")
    assert cluster_problem(tagged) is None
    legacy = layout(index_key="opponents:{owner_id}", key="opponent:{owner_id}:{opponent_id}")
    problem = cluster_problem(legacy)
    assert problem is not None and "'opponents:{{owner_id}}'" in problem
    other = layout(index_key="opponents:{{owner_id}}", key="opponent:{{opponent_id}}:{owner_id}")
    assert cluster_problem(other) is not None


TEMPLATE = {"layout": "template"}


@pytest.mark.parametrize(
    ("redis", "says"),
    [
        ({**TEMPLATE, "key": "o:{owner_id}"}, "redis.key 'o:{owner_id}' must name exactly "
         "{opponent_id}, {owner_id}"),
        ({**TEMPLATE, "index_key": "o:{owner_id}:{opponent_id}"}, "redis.index_key"),
        ({**TEMPLATE, "value_attribute": "timestamp"}, "redis.value_attribute"),
        ({"layout": "lists"}, "Input should be 'cdc', 'hash' or 'template'"),
        # Options the layout would ignore: its readers would never see what they name.
        ({"key": "opponent:{owner_id}:{opponent_id}"},
         "redis.key is for layout 'template' or 'hash', not 'cdc', which ignores it"),
        ({"value_attribute": "metadata"},
         "redis.value_attribute is for layout 'template', not 'cdc', which ignores it"),
        ({"layout": "hash", "value_attribute": "metadata"},
         "redis.value_attribute is for layout 'template', not 'hash', which ignores it"),
        ({"layout": "hash", "value_format": "json"},
         "redis.value_format is for layout 'template', not 'hash', which ignores it"),
    ],
)  # fmt: skip
def test_declared_templates_are_checked(redis: dict[str, str], says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TableSpec.model_validate({**OPPONENTS.model_dump(), "redis": redis})
    assert says in " ".join(str(caught.value).split())


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"redis": {**TEMPLATE, "index_key": "o:{owner_id}"}, "index_attribute": None},
         "redis.index_key needs an index_attribute"),
        ({"redis": {**TEMPLATE, "value_attribute": "metadata"},
          "expiry": {"attribute": "expires_at"}},
         "expiry.attribute 'expires_at' is never held by the template layout, which keeps only "
         "'metadata' (as text) and the index 'timestamp'"),
        ({"redis": {**TEMPLATE, "value_attribute": "metadata"},
          "expiry": {"attribute": "metadata"}}, "is never held by the template layout"),
        ({"expiry": {"lifetime_seconds": "3600"}}, "Input should be a valid integer"),
    ],
)  # fmt: skip
def test_a_declaration_whose_parts_can_never_work_is_refused(
    table: dict[str, object], says: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        TableSpec.model_validate({**OPPONENTS.model_dump(), **table})
    assert says in " ".join(str(caught.value).split())


@pytest.mark.parametrize(
    "table",
    [
        {"redis": {**TEMPLATE, "value_attribute": "metadata"},
         "expiry": {"attribute": "timestamp"}},  # the index: held as the score
        {"redis": {**TEMPLATE, "value_attribute": "meta", "value_format": "json"},
         "expiry": {"attribute": "meta"}},  # a JSON value can be a number
        {"redis": TEMPLATE, "expiry": {"attribute": "expires_at"}},  # the data as JSON
        {"redis": {"layout": "hash", "member": "m:{opponent_id}"}},
        {"expiry": {"lifetime_seconds": 3600}},
    ],
)  # fmt: skip
def test_declarations_that_work_are_taken(table: dict[str, object]) -> None:
    TableSpec.model_validate({**OPPONENTS.model_dump(), **table})


def test_an_id_that_would_render_a_key_of_the_replicators_own_is_refused() -> None:
    """A template opening with a placeholder reaches the replicator's keys only through an id
    that starts with its prefix: that item is refused, the others written."""
    declared = RedisLayoutSpec(
        layout="hash", key="{owner_id}:{opponent_id}", index_key="l:{owner_id}"
    )
    spec = OPPONENTS.model_copy(update={"redis": declared})
    hashes = ItemLayout("opponents", spec, "cdc")
    event = ChangeEvent(table="opponents", op="delete", key={"owner_id": "o", "opponent_id": "p"},
                        ts=1, origin="svc", event_id="e")  # fmt: skip
    assert hashes.problem(ItemId("opponents", "o", "p"), event) is None
    problem = hashes.problem(ItemId("opponents", "cdc:v:x", "p"), event)
    assert problem == (
        """item ["opponents", "cdc:v:x", "p"] renders 'cdc:v:x:p', a key of the replicator's own"""
    )
