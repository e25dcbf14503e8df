"""`dlq list|replay`: show the dead letters, or send back those that now pass."""

import argparse
import asyncio
import json
from dataclasses import replace

from streams.cli.arguments import Subcommands, positive_int
from streams.model.errors import REASONS
from streams.settings import Settings


def add_commands(sub: Subcommands) -> None:
    dlq = sub.add_parser("dlq", help="dead letters: list them, or replay those that now pass")
    # Each action its own flags: `dlq replay --limit 3` is refused, not silently ignored.
    actions = dlq.add_subparsers(
        dest="action", metavar="{list,replay}", required=True, help="what to do with them"
    )
    show = actions.add_parser("list", help="show the waiting letters, with reason and origin")
    show.add_argument("--limit", type=positive_int, default=50,
                      help="list at most this many (default %(default)s)")  # fmt: skip
    show.add_argument("--json", action="store_true", help="one JSON object per letter")
    show.set_defaults(handler=cmd_list)
    replay = actions.add_parser("replay", help="republish the letters that now pass")
    replay.add_argument("--discard", action="append", default=[], choices=REASONS,
                        metavar="REASON",
                        help="drop the letters failing for REASON (repeatable)")  # fmt: skip
    replay.set_defaults(handler=cmd_replay)


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from streams.kafka.connector_sources import with_connector_placeholders  # noqa: PLC0415
    from streams.kafka.topic_health import warn_on_stderr  # noqa: PLC0415
    from streams.pipeline.dlq_replay import replay_letters  # noqa: PLC0415

    # A Debezium letter is decoded again: with the placeholder its connector sends.
    tables = with_connector_placeholders(settings.debezium, settings.tables, warn_on_stderr)
    intake = replace(settings.intake, tables=tables)
    print(asyncio.run(replay_letters(intake, args.discard)).describe())
    return 0


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    from streams.pipeline.dlq_replay import list_letters  # noqa: PLC0415

    for letter in asyncio.run(list_letters(settings.intake, args.limit)):
        shown = letter.as_json()
        if args.json:
            print(json.dumps(shown, ensure_ascii=False))
        else:
            origin = shown["origin"]
            where = f"{origin['topic']}[{origin['partition']}]@{origin['offset']}"
            print(f"{letter.offset:>6} {shown['reason']:<16} {where:<24} {shown['message']}")
    return 0
