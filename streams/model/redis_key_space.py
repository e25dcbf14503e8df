"""The Redis keys each declared table writes, and the declarations that would share one.

A `hash` or `template` layout renders its templates with ids as they are (the application's
own keys), so a template is a set of keys: `opponent:{owner_id}:{opponent_id}` is every key
`opponent:<a>:<b>` for non-empty `<a>` and `<b>`, which holds `:` or anything else. Two
templates of different roles or tables that can render the same key would write one key for
two purposes (a listing's sorted set replaced by an item's string, one table's items taken for
another's): refused at start, naming both. So are templates reaching into the replicator's own
keys (under CDC_REDIS_KEY_PREFIX); a template opening with a placeholder reaches them only
through an id that starts with the prefix, and such an item is refused. Two items of one
template that render the same key are a runtime matter: the first owns it, the other is
refused (connectors/redis/layout.lua).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from itertools import combinations, pairwise

from streams.model.tables import TableSpec

_TOKEN = re.compile(r"\{[A-Za-z0-9_]+\}|.", re.DOTALL)
ANY, MORE = object(), object()  # one character of a value; zero or more further characters
Token = str | object


@dataclass(frozen=True)
class KeyTemplates:
    """A layout's templates, defaults filled in. `key` is the item's key; `index_key` the
    partition's listing (None without an index attribute); `member` its member there."""

    key: str
    index_key: str | None
    member: str


def key_templates(table: str, spec: TableSpec) -> KeyTemplates:
    declared, tagged = spec.redis, f"{{{{{spec.partition_key}}}}}"  # a hash tag per partition
    sort = f":{{{spec.sort_key}}}" if spec.sort_key else ""
    index_key = (declared.index_key or f"{table}:idx:{tagged}") if spec.index_attribute else None
    member = declared.member or f"{{{spec.sort_key}}}"
    return KeyTemplates(declared.key or f"{table}:{tagged}{sort}", index_key, member)


def reserved(prefix: str) -> dict[str, tuple[Token, ...]]:
    """The replicator's own keys: what they start with, then (MORE) anything."""
    return {
        "bookkeeping": (*f"{prefix}:v:", MORE),
        "expiries": (*f"{prefix}:x:", MORE),
        "cdc layout keys": (*f"{prefix}:{{", MORE),
        "layout record": tuple(layout_record_key(prefix)),
    }


def layout_record_key(prefix: str) -> str:
    """The hash that records each table's layout (connectors/redis/layout_record.py)."""
    return f"{prefix}:layouts"


def clash(tables: Mapping[str, TableSpec], prefix: str) -> str | None:
    """Why two declared templates (or one and the replicator's own keys) can render the same
    Redis key, naming both and a key they share; None when none can."""
    roles: list[tuple[str, str, str]] = []  # (table, role, template)
    for name, spec in tables.items():
        if spec.redis.layout == "cdc":
            continue  # its keys are the replicator's own, apart by table name
        templates = key_templates(name, spec)
        roles.append((name, "redis.key", templates.key))
        if templates.index_key:
            roles.append((name, "redis.index_key", templates.index_key))
    for (table_a, role_a, a), (table_b, role_b, b) in combinations(roles, 2):
        shared = common_key(a, b)
        if shared is not None:
            who = f"table {table_a}" if table_a == table_b else f"tables {table_a} and {table_b}"
            return (
                f"{who} can write the same Redis key for two purposes: {table_a}'s {role_a} "
                f"{a!r} and {table_b}'s {role_b} {b!r} both render {shared!r}; give one of "
                "them a fixed text the other cannot render (say, another start)"
            )
    for table, role, template in roles:
        if opens_with_a_value(template):
            continue  # any template could: its items are checked one by one (`reserved_key`)
        for what, own in reserved(prefix).items():
            shared = _common(_tokens(template), own)
            if shared is not None:
                return (
                    f"table {table}'s {role} {template!r} can render {shared!r}, a key of the "
                    f"replicator's own {what} (CDC_REDIS_KEY_PREFIX {prefix!r}); start it "
                    "with another text"
                )
    return None


def opens_with_a_value(template: str) -> bool:
    """Whether the template starts with a placeholder: its keys may start with anything."""
    return _TOKEN.match(template) is not None and len(_TOKEN.findall(template)[0]) > 1


def reserved_key(key: str, prefix: str) -> bool:
    """Whether a rendered key is one of the replicator's own."""
    starts = (f"{prefix}:v:", f"{prefix}:x:", f"{prefix}:{{")
    return key.startswith(starts) or key == layout_record_key(prefix)


def template_warnings(tables: Mapping[str, TableSpec]) -> list[str]:
    """A line for each key template whose placeholders touch: ordinary ids share keys then."""
    warnings = []
    for name, spec in tables.items():
        if spec.redis.layout == "cdc":
            continue
        key = key_templates(name, spec).key
        glued = glued_placeholders(key)
        if glued:
            warnings.append(
                f"table {name}'s redis.key {key!r} has no fixed text between {glued}: items "
                "whose ids differ only in where one ends (`ab` + `c`, `a` + `bc`) render one "
                "key, and all but the first are refused (dead letter key_collision); put a "
                "separator between them"
            )
    return warnings


def glued_placeholders(template: str) -> str | None:
    """The first two placeholders with no fixed text between them (`{a} and {b}` for
    `{a}{b}`), or None: items like (`ab`, `c`) and (`a`, `bc`) then render one key."""
    tokens = _TOKEN.findall(template)
    for first, second in pairwise(tokens):
        if len(first) > 1 and len(second) > 1:
            return f"{first} and {second}"
    return None


def common_key(a: str, b: str) -> str | None:
    """A key that both templates can render, or None (a placeholder is any non-empty text)."""
    return _common(_tokens(a), _tokens(b))


def _tokens(template: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    for token in _TOKEN.findall(template):
        if len(token) > 1:
            tokens += (ANY, MORE)
        else:
            tokens.append(token)
    return tuple(tokens)


@cache
def _common(a: tuple[Token, ...], b: tuple[Token, ...]) -> str | None:
    """The two token lists' intersection, by a walk over both that yields one shared key.
    A MORE that takes characters in both lists at once can take none instead: the key without
    them is shared too, so the walk never needs to."""
    if not a and not b:
        return ""
    if a and a[0] is MORE:
        found = _common(a[1:], b)  # it takes nothing
        if found is None and b and b[0] is MORE:  # b's takes nothing
            found = _common(a, b[1:])
        elif found is None and b:  # it takes what b's first yields
            rest = _common(a, b[1:])
            found = None if rest is None else _char(b[0]) + rest
        return found
    if b and b[0] is MORE:
        return _common(b, a)
    if not a or not b:
        return None
    x, y = a[0], b[0]
    if x is not ANY and y is not ANY and x != y:
        return None
    rest = _common(a[1:], b[1:])
    return None if rest is None else _char(x if x is not ANY else y) + rest


def _char(token: Token) -> str:
    return token if isinstance(token, str) else "x"
