"""`stack up|down|status`: the local Kafka, Redis and DynamoDB API, without Docker."""

import argparse
from pathlib import Path

from streams.cli.arguments import Subcommands
from streams.settings import Settings


def add_commands(sub: Subcommands) -> None:
    stack = sub.add_parser("stack", help="local Kafka, Redis and DynamoDB API without Docker")
    stack.add_argument("action", choices=["up", "down", "status"],
                       help="start the services, stop them, or show their health")  # fmt: skip
    stack.add_argument("--with-postgres", action="store_true",
                       help="up: PostgreSQL and Kafka Connect with Debezium too")  # fmt: skip
    stack.set_defaults(handler=cmd_stack)


def cmd_stack(settings: Settings, args: argparse.Namespace) -> int:
    from streams.devstack.manager import Stack  # noqa: PLC0415 -- keep other commands light

    stack = Stack.from_settings(settings, with_postgres=args.with_postgres)
    if args.action == "down":
        stack.down()
        return 0
    statuses = stack.up() if args.action == "up" else stack.status()
    for status in statuses:
        print(status.describe())
        if status.name == "connect" and status.healthy:
            _print_connectors(status.port)
    names = {status.name for status in statuses}
    if "postgres" not in names and (Path(settings.stack_dir) / "postgres-data").exists():
        print("postgres and connect are not running: `stack up --with-postgres` starts them, "
              "and Connect runs its connectors again")  # fmt: skip
    return 0 if all(s.healthy for s in statuses) else 1


def _print_connectors(port: int) -> None:
    """Each connector under Connect's line: after an `up`, those it runs again."""
    from streams.kafka.connect_rest import ConnectClient  # noqa: PLC0415
    from streams.model.errors import ReplicatorError  # noqa: PLC0415

    try:
        connectors = ConnectClient(f"http://127.0.0.1:{port}").connectors()
    except ReplicatorError as exc:  # answering /connectors a moment ago: say it, go on
        print(f"  connectors not listed: {exc}")
        return
    for connector in connectors:
        print(f"  {connector.describe()}")
