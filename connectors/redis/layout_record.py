"""Which layout each table was written in, recorded in Redis: a change is refused at start.

A table's versions live where its layout keeps them (`cdc`: in the item's hash; `hash` and
`template`: in bookkeeping named after the data key). Declared in another layout or key
template, the table's new keys hold no versions: late events would resurrect deleted items
and overwrite newer ones there. So the worker compares each table's layout with the one
recorded in `<prefix>:layouts` (a hash, one field per table) and refuses to start on a change;
`rebuild --store redis --from-beginning` replays the topic into the new keys and records the
new layout. A table met for the first time is recorded as it is declared.
"""

import json
from collections.abc import Mapping
from typing import Any

from streams.model.errors import StoreSchemaError
from streams.model.redis_key_space import key_templates, layout_record_key
from streams.model.tables import TableSpec

REBUILD = "cdc-replicator rebuild --store redis --from-beginning"


def described(table: str, spec: TableSpec) -> dict[str, str]:
    """What decides where and how a table's items are written: its layout and templates."""
    if spec.redis.layout == "cdc":
        return {"layout": "cdc"}
    templates, redis = key_templates(table, spec), spec.redis
    shown = {"layout": redis.layout, "key": templates.key}
    if templates.index_key:
        shown |= {"index_key": templates.index_key, "member": templates.member}
    if redis.layout == "template":
        shown |= {
            "value_attribute": redis.value_attribute or "",
            "value_format": redis.value_format,
        }
    return shown


async def check_layouts(
    client: Any, tables: Mapping[str, TableSpec], prefix: str, *, adopt: bool = False
) -> None:
    """Record each table's layout; StoreSchemaError naming the first that changed since it was
    recorded, unless `adopt` (a rebuild from the beginning rewrites the table's keys)."""
    key = layout_record_key(prefix)
    recorded = {
        name.decode(): json.loads(value) for name, value in (await client.hgetall(key)).items()
    }
    wanted = {name: described(name, spec) for name, spec in tables.items()}
    for name, layout in wanted.items():
        if not adopt and name in recorded and recorded[name] != layout:
            raise StoreSchemaError(changed(name, recorded[name], layout))
    new = {
        name: json.dumps(layout) for name, layout in wanted.items() if recorded.get(name) != layout
    }
    if new:
        await client.hset(key, mapping=new)


def changed(table: str, was: Mapping[str, str], now: Mapping[str, str]) -> str:
    if "cdc" in (was["layout"], now["layout"]) or was.get("key") != now.get("key"):
        remedy = (
            "its new keys hold no versions yet, so late events would resurrect deleted items "
            f"and overwrite newer ones there: run `{REBUILD}` (it records the new layout), "
            "or declare the old one again"
        )
    else:
        remedy = (
            "its items' keys hold their versions and data in the old form, so a rebuild into "
            "them would skip every item as already written: declare the old layout again, or "
            f"another key template too and run `{REBUILD}` (it records the new layout)"
        )
    return (
        f"table {table}'s Redis layout changed since this Redis was written (was "
        f"{_shown(was)}; now {_shown(now)}): {remedy}"
    )


def _shown(layout: Mapping[str, str]) -> str:
    return ", ".join(
        f"{name} {value!r}" if name != "layout" else value for name, value in layout.items()
    )
