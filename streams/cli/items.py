"""Items one at a time: `publish` change events, `get` an item, `list` a partition, `schema`."""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from connectors.store import Item, UnreadableItemsError
from streams.cli.arguments import Subcommands, input_file, key_value, positive_int, utf8_text
from streams.kafka.clients import Kafka
from streams.kafka.publisher import Publisher
from streams.model import numbers
from streams.model.errors import ConfigError
from streams.model.jsonl import ParsedLines, parse_lines
from streams.model.numbers import counted
from streams.model.tables import TableSpec
from streams.settings import Settings
from streams.stores import STORE_NAMES, open_store


def add_commands(sub: Subcommands) -> None:
    publish = sub.add_parser("publish", help="publish change events from a JSON Lines file")
    publish.add_argument("file", type=input_file, help="path, or - for stdin")
    publish.add_argument(
        "--skip-invalid", action="store_true", help="publish the valid lines anyway"
    )
    publish.set_defaults(handler=cmd_publish)

    get = sub.add_parser("get", help="print one item from a store as JSON")
    get.add_argument("--store", required=True, choices=STORE_NAMES, help="the store to read")
    get.add_argument("table", help="a table declared in CDC_TABLES")
    get.add_argument(
        "key", nargs="+", type=key_value, help="attribute=value for each key attribute"
    )
    get.set_defaults(handler=cmd_get)

    lst = sub.add_parser("list", help="list a partition's items, newest first (JSON Lines)")
    lst.add_argument("--store", required=True, choices=STORE_NAMES, help="the store to read")
    lst.add_argument("table", help="a table declared in CDC_TABLES, with an index_attribute")
    lst.add_argument("partition", type=utf8_text, help="the partition key's value")
    lst.add_argument("--limit", type=positive_int, default=100,
                     help="list at most this many items (default 100)")  # fmt: skip
    lst.set_defaults(handler=cmd_list)

    schema = sub.add_parser("schema", help="print the change event's JSON Schema")
    schema.set_defaults(handler=cmd_schema)


def cmd_publish(settings: Settings, args: argparse.Namespace) -> int:
    lines = read_lines(args.file)
    return asyncio.run(publish_lines(settings, args.file, lines, skip_invalid=args.skip_invalid))


def cmd_get(settings: Settings, args: argparse.Namespace) -> int:
    item = asyncio.run(get_item(settings, args.store, args.table, args.key))
    if item is None:
        print("not found", file=sys.stderr)
        return 1
    print(shown_item(item, settings.table(args.table)))
    return 0


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    """The items; those the store holds in a form no event can carry are named on stderr
    (exit 1) after the others."""
    spec = settings.table(args.table)
    problems: list[str] = []
    try:
        items = asyncio.run(
            list_items(settings, args.store, args.table, args.partition, args.limit)
        )
    except UnreadableItemsError as exc:
        items, problems = exc.items, exc.problems
    for item in items:
        print(shown_item(item, spec))
    for problem in problems:
        print(f"unreadable: {problem}", file=sys.stderr)
    return 1 if problems else 0


def shown_item(item: Item, spec: TableSpec) -> str:
    """One line of JSON, the same from either store: the key attributes first, in the
    declaration's order (DynamoDB gives an item's attributes in no set order, Redis in the
    order they were written), then the others by name; numbers exactly, sets and binary
    shown in one form."""
    keys = [name for name in spec.key_attributes if name in item]
    ordered = {name: item[name] for name in [*keys, *sorted(set(item) - set(keys))]}
    return numbers.dumps(numbers.shown(ordered)).decode()


def cmd_schema(settings: Settings, args: argparse.Namespace) -> int:
    from streams.model.events import ChangeEvent  # noqa: PLC0415

    print(json.dumps(ChangeEvent.model_json_schema(), indent=2))
    return 0


def read_lines(path: str) -> list[bytes]:
    return sys.stdin.buffer.readlines() if path == "-" else Path(path).read_bytes().splitlines()


async def publish_lines(
    settings: Settings, path: str, lines: list[bytes], skip_invalid: bool
) -> int:
    """Validate every line first: a file with a bad line publishes nothing, unless told to;
    told to, a file with no valid line publishes nothing and exits 1."""
    parsed = parse_lines(lines, settings.tables)
    for number, why in parsed.errors:
        print(f"{path}:{number}: {why}", file=sys.stderr)
    if parsed.errors and not skip_invalid:
        print(_refused(parsed, path), file=sys.stderr)
        return 2
    if parsed.errors and not parsed.events:  # skipping every line is no success: exit 1
        where = "stdin" if path == "-" else path
        print(f"nothing published: every line of {where} is invalid", file=sys.stderr)
        return 1
    async with Publisher(
        Kafka.of(settings.kafka), settings.topic, settings.tables, settings.origin
    ) as publisher:
        count = await publisher.publish(parsed.events)
    print(f"published {counted(count, 'event')} to {settings.topic}, "
          f"skipped {len(parsed.errors):,} invalid")  # fmt: skip
    return 0


def _refused(parsed: ParsedLines, path: str) -> str:
    where = "stdin" if path == "-" else path
    line = f"error: {counted(len(parsed.errors), 'invalid line')} in {where}, nothing published"
    if not parsed.events:
        return line
    return f"{line}; --skip-invalid publishes the other {counted(len(parsed.events), 'event')}"


async def get_item(
    settings: Settings, store_name: str, table: str, pairs: Sequence[tuple[str, str]]
) -> Item | None:
    key = _key_of(settings.table(table), table, pairs)
    store = open_store(settings, store_name)
    try:
        return await store.get(table, key)
    finally:
        await store.close()


def _key_of(spec: TableSpec, table: str, pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The key `name=value` pairs give: each of the table's key attributes exactly once."""
    names = [name for name, _ in pairs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"{', '.join(repeated)}: a key attribute given more than once")
    key = dict(pairs)
    missing = set(spec.key_attributes) - set(key)
    if missing:
        raise ConfigError(f"give every key attribute: missing {', '.join(sorted(missing))}")
    unknown = set(key) - set(spec.key_attributes)
    if unknown:
        raise ConfigError(
            f"{', '.join(sorted(unknown))}: not a key attribute of {table!r} "
            f"(its key: {', '.join(spec.key_attributes)})"
        )
    return key


async def list_items(
    settings: Settings, store_name: str, table: str, partition: str, limit: int
) -> list[Item]:
    if settings.table(table).index_attribute is None:
        raise ConfigError(
            f"table {table!r} has no index_attribute in CDC_TABLES: list needs one to order by"
        )
    store = open_store(settings, store_name)
    try:
        return await store.list_partition(table, partition, limit)
    finally:
        await store.close()
