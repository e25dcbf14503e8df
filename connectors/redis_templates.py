"""Key templates: `opponent:{owner_id}:{opponent_id}`, placeholders naming key attributes.

One syntax and one parser for the legacy snapshot source (which reads keys as the application
wrote them) and the layouts the worker writes. A brace that does not enclose a placeholder
name is literal, so `opponents:{{owner_id}}` is `opponents:{1,a}`: a Redis Cluster hash tag.

The worker escapes the values it fills in: `%`, `:`, `{` and `}` are percent-encoded (`1,a`
stays `1,a`), so the keys of distinct items never collide (`a:b` + `c` against `a` + `b:c`) and
no value can open or close a hash tag.
"""

import re
from collections.abc import Mapping
from urllib.parse import unquote

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]+)\}")
_ESCAPES = str.maketrans({"%": "%25", ":": "%3A", "{": "%7B", "}": "%7D"})
_TOKEN = re.compile(PLACEHOLDER.pattern + r"|.", re.DOTALL)


def escape(value: str) -> str:
    return value.translate(_ESCAPES)


def unescape(value: str) -> str:
    return unquote(value)  # every '%' in a filled value is one of ours


def fill(template: str, values: Mapping[str, str], *, escaped: bool = True) -> str:
    """The template with each placeholder replaced by its value, in one pass (a value that
    looks like a placeholder stays as it is)."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name not in values:
            return match[0]
        return escape(values[name]) if escaped else values[name]

    return PLACEHOLDER.sub(value, template)


def parser(template: str, name: str) -> re.Pattern[str]:
    """A pattern whose group `value` is the (escaped) value of `name` filled into `template`."""
    parts = [
        "(?P<value>.+)" if match[0] == f"{{{name}}}" else re.escape(match[0])
        for match in _TOKEN.finditer(template)
    ]
    return re.compile("".join(parts), re.DOTALL)


def hash_tag(template: str) -> str | None:
    """What decides a filled key's Redis Cluster slot: the template's text between its first
    literal `{` and the next literal `}` (values hold no braces), or None if it has no tag."""
    tokens = [match[0] for match in _TOKEN.finditer(template)]
    if "{" not in tokens:
        return None
    start = tokens.index("{") + 1
    if "}" not in tokens[start:]:
        return None
    tag = "".join(tokens[start : tokens.index("}", start)])
    return tag or None
