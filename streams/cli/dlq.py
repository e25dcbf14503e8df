"""`dlq list|replay`: show the dead letters, or send back those that now pass."""

import argparse
import asyncio
import json

from streams.cli.arguments import Subcommands, positive_int
from streams.pipeline.dlq import REASONS
from streams.settings import Settings


def add_commands(sub: Subcommands) -> None:
    dlq = sub.add_parser("dlq", help="dead letters: list them, or replay those that now pass")
    dlq.add_argument("action", choices=["list", "replay"],
                     help="show the waiting letters, or republish those that now pass")  # fmt: skip
    dlq.add_argument("--limit", type=positive_int, default=50, help="list at most this many")
    dlq.add_argument("--json", action="store_true", help="list: one JSON object per letter")
    dlq.add_argument("--discard", action="append", default=[], choices=REASONS, metavar="REASON",
                     help="replay: drop the letters failing for REASON (repeatable)")  # fmt: skip
    dlq.set_defaults(handler=cmd_dlq)


def cmd_dlq(settings: Settings, args: argparse.Namespace) -> int:
    from streams.pipeline.dlq_replay import list_letters, replay_letters  # noqa: PLC0415

    if args.action == "replay":
        print(asyncio.run(replay_letters(settings, args.discard)).describe())
        return 0
    letters = asyncio.run(list_letters(settings, args.limit))
    for letter in letters:
        shown = letter.as_json()
        if args.json:
            print(json.dumps(shown, ensure_ascii=False))
        else:
            origin = shown["origin"]
            where = f"{origin['topic']}[{origin['partition']}]@{origin['offset']}"
            print(f"{letter.offset:>6} {shown['reason']:<16} {where:<24} {shown['message']}")
    return 0
