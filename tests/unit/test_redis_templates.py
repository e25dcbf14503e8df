"""Key templates: filling, escaping, reading a member back, hash tags and the cluster check."""

import pytest
from pydantic import ValidationError

from connectors.redis_layouts import ItemLayout, cluster_problem
from connectors.redis_templates import fill, hash_tag, parser, unescape
from streams.model.redis_layout_spec import RedisLayoutSpec
from streams.model.tables import OPPONENTS, TableSpec


def test_values_are_escaped_so_keys_never_collide_and_seed_ids_stay_as_they_are() -> None:
    template = "opponent:{owner_id}:{opponent_id}"
    assert fill(template, {"owner_id": "1,a", "opponent_id": "2,b"}) == "opponent:1,a:2,b"
    one = fill(template, {"owner_id": "a:b", "opponent_id": "c"})
    other = fill(template, {"owner_id": "a", "opponent_id": "b:c"})
    assert one != other
    assert fill("x:{{k}}", {"k": "}{%"}) == "x:{%7D%7B%25}"  # no value opens or closes a tag
    assert fill("x:{k}", {"k": "{k}"}, escaped=False) == "x:{k}"  # one pass, as the legacy's


def test_a_member_is_read_back_exactly() -> None:
    for value in ("2,b", "a:b", "{x}", "%3A", "é"):
        member = fill("m:{opponent_id}", {"opponent_id": value})
        match = parser("m:{opponent_id}", "opponent_id").fullmatch(member)
        assert match is not None and unescape(match["value"]) == value


def test_hash_tags() -> None:
    assert hash_tag("opponents:{{owner_id}}") == "{owner_id}"
    assert hash_tag("opponent:{{owner_id}}:{opponent_id}") == "{owner_id}"
    assert hash_tag("opponents:{owner_id}") is None
    assert hash_tag("x:{}:{owner_id}") is None


def layout(**declared: str) -> ItemLayout:
    declared_spec = RedisLayoutSpec.model_validate({"layout": "template", **declared})
    spec = OPPONENTS.model_copy(update={"redis": declared_spec})
    return ItemLayout("opponents", spec, "cdc")


def test_the_cluster_check_wants_one_hash_tag_for_an_items_keys() -> None:
    assert cluster_problem(layout()) is None  # the defaults are tagged
    tagged = layout(index_key="opponents:{{owner_id}}", key="opponent:{{owner_id}}:{opponent_id}")
    assert cluster_problem(tagged) is None
    seed = layout(index_key="opponents:{owner_id}", key="opponent:{owner_id}:{opponent_id}")
    problem = cluster_problem(seed)
    assert problem is not None and "'opponents:{{owner_id}}'" in problem
    other = layout(index_key="opponents:{{owner_id}}", key="opponent:{{opponent_id}}:{owner_id}")
    assert cluster_problem(other) is not None


@pytest.mark.parametrize(
    ("redis", "says"),
    [
        ({"key": "o:{owner_id}"}, "redis.key 'o:{owner_id}' must name exactly {opponent_id}, "
         "{owner_id}"),
        ({"index_key": "o:{owner_id}:{opponent_id}"}, "redis.index_key"),
        ({"value_attribute": "timestamp"}, "redis.value_attribute"),
        ({"layout": "lists"}, "Input should be 'cdc', 'hash' or 'template'"),
    ],
)  # fmt: skip
def test_declared_templates_are_checked(redis: dict[str, str], says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TableSpec.model_validate({**OPPONENTS.model_dump(), "redis": redis})
    assert says in " ".join(str(caught.value).split())
