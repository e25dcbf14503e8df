"""`cdc-replicator`: the worker, the local stack, publishing, snapshots, verification and lag."""

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeAlias
from urllib.parse import urlsplit

from connectors.source import WHOLE
from streams.cli.arguments import (
    Parser,
    input_file,
    key_value,
    non_empty,
    port_number,
    positive_int,
    positive_number,
    store_list,
)
from streams.failures import FAILURES, describe_failure
from streams.logs import LEVELS as LOG_LEVELS
from streams.logs import KafkaCauses, kafka_causes_kept
from streams.model import numbers
from streams.model.errors import ReplicatorError
from streams.pipeline.dlq import REASONS
from streams.settings import Settings, load_settings
from streams.snapshot.sources import SOURCES, add_source_arguments, part_argument
from streams.stores import STORE_NAMES

Handler = Callable[[Settings, argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "worker":  # it logs, and sets its logging up itself
        return run_command(args, None)
    with kafka_causes_kept() as kafka_causes:
        return run_command(args, kafka_causes)


def run_command(args: argparse.Namespace, kafka_causes: KafkaCauses | None) -> int:
    """The one error boundary: what a user can cause or meet (bad settings or arguments, a
    service down, a missing file) is one line and exit code 2; a bug keeps its traceback."""
    settings: Settings | None = None
    try:
        settings = load_settings()
        return _handled(settings, args)
    except ReplicatorError as exc:
        message = str(exc)
    except BrokenPipeError:  # `verify | head`: the reader has gone, as for any Unix tool
        _quiet_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by it
    except FAILURES as exc:
        servers = settings.kafka_bootstrap_servers if settings else ""
        cause = kafka_causes.last if kafka_causes else None
        message = describe_failure(exc, servers, cause, redis_auth=_redis_auth(settings))
    except KeyboardInterrupt:
        return 130
    print(f"error: {message}", file=sys.stderr)
    return 2


def _handled(settings: Settings, args: argparse.Namespace) -> int:
    code = int(args.handler(settings, args))
    sys.stdout.flush()  # a reader gone shows here, not as the interpreter's last words
    return code


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush fails on nothing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _redis_auth(settings: Settings | None) -> bool:
    """Whether a Redis password was given (CDC_REDIS_PASSWORD, or in CDC_REDIS_URL)."""
    return settings is None or bool(
        settings.redis_password or urlsplit(settings.redis_url).password
    )


Subcommands: TypeAlias = "argparse._SubParsersAction[Parser]"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="cdc-replicator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_replication_commands(sub)
    _add_item_commands(sub)
    _add_snapshot_commands(sub)
    _add_operations_commands(sub)
    return parser


def _add_replication_commands(sub: Subcommands) -> None:
    stack = sub.add_parser("stack", help="local Kafka, Redis and DynamoDB API without Docker")
    stack.add_argument("action", choices=["up", "down", "status"])
    stack.add_argument("--with-postgres", action="store_true",
                       help="up: PostgreSQL and Kafka Connect with Debezium too")  # fmt: skip
    stack.set_defaults(handler=cmd_stack)

    worker = sub.add_parser("worker", help="consume the changes topic into the stores (main job)")
    worker.add_argument(
        "--sinks", type=store_list, default=list(STORE_NAMES), help="redis,dynamodb"
    )
    worker.add_argument("--loglevel", default="info", choices=list(LOG_LEVELS))
    worker.set_defaults(handler=cmd_worker)

    init = sub.add_parser("init", help="create the topics and DynamoDB tables if missing")
    init.add_argument(
        "--fix", action="store_true", help="also bring an existing topic to the project's settings"
    )
    init.set_defaults(handler=cmd_init)

    publish = sub.add_parser("publish", help="publish change events from a JSON Lines file")
    publish.add_argument("file", type=input_file, help="path, or - for stdin")
    publish.add_argument(
        "--skip-invalid", action="store_true", help="publish the valid lines anyway"
    )
    publish.set_defaults(handler=cmd_publish)


def _add_item_commands(sub: Subcommands) -> None:
    get = sub.add_parser("get", help="print one item from a store as JSON")
    get.add_argument("--store", required=True, choices=STORE_NAMES)
    get.add_argument("table")
    get.add_argument(
        "key", nargs="+", type=key_value, help="attribute=value for each key attribute"
    )
    get.set_defaults(handler=cmd_get)

    lst = sub.add_parser("list", help="list a partition's items, newest first (JSON Lines)")
    lst.add_argument("--store", required=True, choices=STORE_NAMES)
    lst.add_argument("table")
    lst.add_argument("partition", type=non_empty)
    lst.add_argument("--limit", type=positive_int, default=100)
    lst.set_defaults(handler=cmd_list)

    schema = sub.add_parser("schema", help="print the change event's JSON Schema")
    schema.set_defaults(handler=cmd_schema)


def _add_snapshot_commands(sub: Subcommands) -> None:
    snap = sub.add_parser("snapshot", help="publish a source's items as snapshot events, resumably")
    snap.add_argument("--source", required=True, choices=SOURCES)
    snap.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    snap.add_argument("--max-rate", type=positive_number, help="items per second at most")
    snap.add_argument(
        "--checkpoint", type=Path, help="checkpoint file (default under CDC_STACK_DIR)"
    )
    snap.add_argument("--workers", type=positive_int, default=1,
                      help="processes, each snapshotting a part of the source")  # fmt: skip
    snap.add_argument("--part", type=part_argument, default=WHOLE,
                      help="K/N: only the K-th of N parts (e.g. one per machine)")  # fmt: skip
    snap.add_argument("--metrics-port", type=port_number,
                      help="serve progress as Prometheus metrics on CDC_WEB_HOST:PORT")  # fmt: skip
    add_source_arguments(snap)
    snap.set_defaults(handler=cmd_snapshot)

    seed = sub.add_parser("seed-legacy", help="write a synthetic legacy Redis dataset")
    seed.add_argument("--owners", type=positive_int, required=True)
    seed.add_argument("--per-owner", type=positive_int, required=True)
    add_source_arguments(seed)
    seed.set_defaults(handler=cmd_seed_legacy)


def _add_operations_commands(sub: Subcommands) -> None:
    check = sub.add_parser("verify", help="compare Redis and DynamoDB (or a store and a source)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--repair", action="store_true", help="republish the winner of each drift")
    check.add_argument("--prefer", choices=["dynamodb", "redis"], default="dynamodb",
                       help="whose data wins when versions tie but data differs")  # fmt: skip
    check.add_argument("--source", choices=SOURCES,
                       help="compare --store against this snapshot source instead")  # fmt: skip
    check.add_argument("--store", choices=STORE_NAMES, default="dynamodb")
    add_source_arguments(check)
    check.set_defaults(handler=cmd_verify, table=None)

    lag = sub.add_parser(
        "lag", help="consumer lag per partition, in messages and seconds, and status"
    )
    lag.add_argument(
        "--group", help="one consumer group (default: each store's, <CDC_GROUP_ID>-<store>)"
    )
    lag.add_argument("--json", action="store_true")
    lag.add_argument(
        "--samples", type=positive_int, default=3, help="samples over the window (status needs >1)"
    )
    lag.add_argument(
        "--interval", type=positive_number, default=2.0, help="seconds between samples"
    )
    lag.set_defaults(handler=cmd_lag)

    dlq = sub.add_parser("dlq", help="dead letters: list them, or replay those that now pass")
    dlq.add_argument("action", choices=["list", "replay"])
    dlq.add_argument("--limit", type=positive_int, default=50, help="list at most this many")
    dlq.add_argument("--json", action="store_true")
    dlq.add_argument("--discard", action="append", default=[], choices=REASONS, metavar="REASON",
                     help="replay: drop the letters failing for REASON (repeatable)")  # fmt: skip
    dlq.set_defaults(handler=cmd_dlq)

    rebuild = sub.add_parser("rebuild", help="replay the topic into one store, then stop")
    rebuild.add_argument("--store", required=True, choices=STORE_NAMES)
    start = rebuild.add_mutually_exclusive_group()
    start.add_argument("--from-beginning", action="store_true", help="the default")
    start.add_argument(
        "--from-time", type=datetime.fromisoformat, help="ISO 8601, e.g. 2026-11-01T00:00Z"
    )
    rebuild.add_argument("--allow-partial", action="store_true",
                         help="replay even a topic that has lost its oldest records")  # fmt: skip
    rebuild.set_defaults(handler=cmd_rebuild)


def cmd_stack(settings: Settings, args: argparse.Namespace) -> int:
    from streams.devstack.manager import Stack  # noqa: PLC0415 -- keep other commands light

    stack = Stack.from_settings(settings, with_postgres=args.with_postgres)
    if args.action == "down":
        stack.down()
        return 0
    statuses = stack.up() if args.action == "up" else stack.status()
    for status in statuses:
        print(status.describe())
    return 0 if all(s.healthy for s in statuses) else 1


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.worker.run import run_worker  # noqa: PLC0415

    run_worker(settings, args.sinks, args.loglevel)
    return 0


def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    from streams.kafka.topic_fix import fix_topic  # noqa: PLC0415
    from streams.kafka.topic_health import warn_on_stderr  # noqa: PLC0415
    from streams.worker.run import prepare  # noqa: PLC0415

    for change in asyncio.run(fix_topic(settings)) if args.fix else []:
        print(f"topic {settings.topic}: set {change}")
    asyncio.run(prepare(settings, STORE_NAMES, warn=warn_on_stderr))
    tables = ", ".join(settings.tables)
    print(f"topics {settings.topic}, {settings.dlq_topic} and tables {tables} ready")
    return 0


def cmd_publish(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.commands import publish_lines, read_lines  # noqa: PLC0415

    lines = read_lines(args.file)
    return asyncio.run(publish_lines(settings, args.file, lines, skip_invalid=args.skip_invalid))


def cmd_get(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.commands import get_item  # noqa: PLC0415

    item = asyncio.run(get_item(settings, args.store, args.table, args.key))
    if item is None:
        print("not found", file=sys.stderr)
        return 1
    print(numbers.dumps(numbers.shown(item)).decode())  # numbers exactly, sets and binary shown
    return 0


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.commands import list_items  # noqa: PLC0415

    for item in asyncio.run(
        list_items(settings, args.store, args.table, args.partition, args.limit)
    ):
        print(numbers.dumps(numbers.shown(item)).decode())  # numbers exactly, sets and binary shown
    return 0


def cmd_snapshot(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.snapshot import snapshot  # noqa: PLC0415

    try:
        return asyncio.run(snapshot(settings, args))
    except KeyboardInterrupt:
        print("interrupted: --resume continues from the last checkpoint", file=sys.stderr)
        return 130


def cmd_seed_legacy(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.snapshot import seed  # noqa: PLC0415

    return asyncio.run(seed(settings, args))


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.verify import verify  # noqa: PLC0415

    return asyncio.run(verify(settings, args))


def cmd_lag(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.commands import lag_report, print_lag  # noqa: PLC0415
    from streams.kafka.groups import store_group  # noqa: PLC0415

    groups = [args.group] if args.group else [store_group(settings, s) for s in STORE_NAMES]
    report = asyncio.run(lag_report(settings, groups, max(1, args.samples), args.interval))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_lag(report)
    return 0 if report["status"] == "OK" else 1


def cmd_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.commands import rebuild_store  # noqa: PLC0415

    return asyncio.run(rebuild_store(settings, args.store, args.from_time, args.allow_partial))


def cmd_dlq(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.dlq import list_letters, replay_letters  # noqa: PLC0415

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


def cmd_schema(settings: Settings, args: argparse.Namespace) -> int:
    from streams.model.events import ChangeEvent  # noqa: PLC0415

    print(json.dumps(ChangeEvent.model_json_schema(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
