"""`cdc-replicator`: the worker, the local stack, publishing, snapshots, verification and lag."""

import argparse
import os
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from streams.cli import connector, dlq, items, lag, rebuild, snapshot, stack, verify, worker
from streams.cli.arguments import Parser
from streams.failures import describe_failure
from streams.logs import KafkaCauses, kafka_causes_kept
from streams.outcomes import command_outcome
from streams.settings import Settings, load_settings

# Each group adds its commands, in the order --help lists them.
GROUPS = (stack, worker, items, snapshot, verify, lag, dlq, rebuild, connector)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "worker":  # it logs, and sets its logging up itself
        return run_command(args, None)
    with kafka_causes_kept() as kafka_causes:
        return run_command(args, kafka_causes)


def run_command(args: argparse.Namespace, kafka_causes: KafkaCauses | None) -> int:
    """The one error boundary: what the outcomes table (streams.outcomes) says a command exits
    2 on (bad settings or arguments, a service down, a missing file) is one line and exit code
    2; anything else is a bug, and keeps its traceback."""
    settings: Settings | None = None
    try:
        settings = load_settings()
        return _handled(settings, args)
    except BrokenPipeError:  # `verify | head`: the reader has gone, as for any Unix tool
        _quiet_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by it
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if command_outcome(exc) != "exit_2":
            raise
        servers = settings.kafka_bootstrap_servers if settings else ""
        cause = kafka_causes.last if kafka_causes else None
        message = describe_failure(exc, servers, cause, redis_auth=_redis_auth(settings))
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


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="cdc-replicator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, help="the command to run")
    for group in GROUPS:
        group.add_commands(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
