"""Key templates: `opponent:{owner_id}:{opponent_id}`, placeholders naming key attributes.

One syntax and one parser for the legacy snapshot source (which reads keys as the application
wrote them) and the layouts the worker writes. A brace that does not enclose a placeholder
name is literal, so `opponents:{{owner_id}}` is `opponents:{1,a}`: a Redis Cluster hash tag.

Values are filled in as they are, as the application's own template fills them: the worker
writes the very keys and members the application reads (`opponent:user:7:user:8`). Two items
may then render one key (`a:b` + `c` and `a` + `b:c`): the first to write it owns it and the
other is refused (connectors/redis/layout.lua); declarations that could share a key between
tables or roles are refused at start (streams/model/redis_key_space.py).
"""

import re
from collections.abc import Mapping, Sequence

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]+)\}")
_TOKEN = re.compile(PLACEHOLDER.pattern + r"|.", re.DOTALL)


def fill(template: str, values: Mapping[str, str]) -> str:
    """The template with each placeholder replaced by its value, in one pass (a value that
    looks like a placeholder stays as it is)."""

    def value(match: re.Match[str]) -> str:
        return values.get(match[1], match[0])

    return PLACEHOLDER.sub(value, template)


def parser(template: str, name: str) -> re.Pattern[str]:
    """A pattern whose group `value` is the value of `name` filled into `template` (which
    names it once, and no other placeholder: a member's or a listing key's template)."""
    parts = [
        "(?P<value>.+)" if match[0] == f"{{{name}}}" else re.escape(match[0])
        for match in _TOKEN.finditer(template)
    ]
    return re.compile("".join(parts), re.DOTALL)


def any_key(templates: Sequence[str]) -> re.Pattern[str]:
    """A pattern matching every key one of `templates` can render."""
    patterns = [
        "".join(".+" if len(m[0]) > 1 else re.escape(m[0]) for m in _TOKEN.finditer(template))
        for template in templates
    ]
    return re.compile("|".join(f"(?:{p})" for p in patterns) or "(?!)", re.DOTALL)


def hash_tag(template: str) -> str | None:
    """What decides a filled key's Redis Cluster slot: the template's text between its first
    literal `{` and the next literal `}`, or None if it has none, or if a placeholder comes
    before that `{` (a value holding a brace would move the tag). Two templates with the same
    tag put an item's keys on one slot: whatever braces the values hold, the tag's text is
    filled alike in both, up to the same first `}`."""
    tokens = [match[0] for match in _TOKEN.finditer(template)]
    if "{" not in tokens:
        return None
    start = tokens.index("{") + 1
    if "}" not in tokens[start:] or any(len(token) > 1 for token in tokens[:start]):
        return None
    tag = "".join(tokens[start : tokens.index("}", start)])
    return tag or None
