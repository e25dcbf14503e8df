"""`worker` (the main job: consume the changes into the stores) and `init` (what it needs)."""

import argparse
import asyncio
import sys

from streams.cli.arguments import Subcommands, store_list
from streams.logs import LEVELS as LOG_LEVELS
from streams.model.redis_key_space import template_warnings
from streams.settings import Settings
from streams.stores import STORE_NAMES


def add_commands(sub: Subcommands) -> None:
    worker = sub.add_parser("worker", help="consume the changes topic into the stores (main job)")
    stores = worker.add_mutually_exclusive_group()
    stores.add_argument(
        "--stores",
        type=store_list,
        help="stores to write, comma-separated (default redis,dynamodb)",
    )
    stores.add_argument("--sinks", type=store_list, help="the former name of --stores (deprecated)")
    worker.add_argument("--loglevel", default="info", choices=list(LOG_LEVELS),
                        help="log this level and above (default info)")  # fmt: skip
    worker.set_defaults(handler=cmd_worker)

    init = sub.add_parser("init", help="create the topics and DynamoDB tables if missing")
    init.add_argument(
        "--fix", action="store_true", help="also bring an existing topic to the project's settings"
    )
    init.set_defaults(handler=cmd_init)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.worker.run import run_worker  # noqa: PLC0415 -- keep other commands light

    run_worker(settings, worker_stores(args), args.loglevel)
    return 0


def worker_stores(args: argparse.Namespace) -> list[str]:
    """--stores, or --sinks (its former name, still taken, with one line saying so)."""
    if args.sinks is not None:
        print("warning: --sinks is deprecated; use --stores", file=sys.stderr)
        return list(args.sinks)
    return list(args.stores or STORE_NAMES)


def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    from streams.kafka.topic_fix import fix_topic  # noqa: PLC0415
    from streams.kafka.topic_health import warn_on_stderr  # noqa: PLC0415
    from streams.worker.run import prepare  # noqa: PLC0415

    for change in asyncio.run(fix_topic(settings.kafka, settings.changes)) if args.fix else []:
        print(f"topic {settings.topic}: set {change}")
    for warning in template_warnings(settings.tables):
        warn_on_stderr(warning)
    asyncio.run(prepare(settings, STORE_NAMES, warn=warn_on_stderr))
    tables = ", ".join(settings.tables)
    print(f"topics {settings.topic}, {settings.dlq_topic} and tables {tables} ready")
    return 0
