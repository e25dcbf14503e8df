"""`connector validate|add|status`: a Kafka Connect connector (Debezium's) checked before it is
registered, registered and watched until it runs, and the state of every connector."""

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from streams.cli.arguments import Subcommands, input_file, positive_number, utf8_text
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.kafka.connect_rest import ConnectClient
    from streams.kafka.connector_setup import ConnectorFile


def add_commands(sub: Subcommands) -> None:
    connector = sub.add_parser(
        "connector", help="Kafka Connect connectors (Debezium): validate, add, status"
    )
    actions = connector.add_subparsers(dest="action", metavar="{validate,add,status}",
                                       required=True, help="what to do")  # fmt: skip
    validate = actions.add_parser(
        "validate", help="check a config with Connect and against what the replicator can use"
    )
    _config_arguments(validate)
    validate.set_defaults(handler=cmd_validate)
    add = actions.add_parser("add", help="validate a config, register it, wait until it runs")
    _config_arguments(add)
    add.add_argument("--timeout", type=positive_number, default=60.0,
                     help="seconds to wait for it to run (default %(default)s)")  # fmt: skip
    add.set_defaults(handler=cmd_add)
    status = actions.add_parser(
        "status", help="each connector's state, and each declared Debezium table's connector"
    )
    status.add_argument("name", nargs="?", type=utf8_text, help="only this connector")
    status.set_defaults(handler=cmd_status)


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=input_file, help="the config as JSON, flat or "
                        '{"name": ..., "config": {...}}; - for stdin')  # fmt: skip
    parser.add_argument("--name", type=utf8_text,
                        help="its name (default: the file's, else topic.prefix)")  # fmt: skip


def connect_url(settings: Settings) -> str:
    """CDC_CONNECT_URL, or else the local stack's Connect."""
    return settings.connect_url or f"http://127.0.0.1:{settings.stack.connect_port}"


def cmd_validate(settings: Settings, args: argparse.Namespace) -> int:
    from streams.kafka.connect_rest import ConnectClient  # noqa: PLC0415

    connector = _read(args)
    client = ConnectClient(connect_url(settings))
    if not _checked(client, connector, settings):
        return 2
    print(f"connector {connector.name}: valid ({connector.config['connector.class']})")
    return 0


def cmd_add(settings: Settings, args: argparse.Namespace) -> int:
    from streams.kafka.connect_rest import ConnectClient  # noqa: PLC0415
    from streams.kafka.connector_setup import wait_until_running  # noqa: PLC0415

    connector = _read(args)
    client = ConnectClient(connect_url(settings))
    if not _checked(client, connector, settings):
        return 2
    created = client.put_config(connector.name, connector.config)
    print(f"connector {connector.name}: {'registered' if created else 'config updated'}, "
          f"at {client.url}")  # fmt: skip
    running = wait_until_running(client, connector, args.timeout)
    print(running.describe())
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from streams.kafka.connect_rest import ConnectClient  # noqa: PLC0415
    from streams.kafka.connector_sources import source_states  # noqa: PLC0415
    from streams.model.errors import ConfigError  # noqa: PLC0415

    client = ConnectClient(connect_url(settings))
    connectors = client.connectors()
    if args.name:
        chosen = [c for c in connectors if c.name == args.name]
        if not chosen:
            names = ", ".join(c.name for c in connectors) or "none"
            raise ConfigError(
                f"no connector {args.name!r} at {client.url} (its connectors: {names})"
            )
        print(chosen[0].describe())
        return 0 if chosen[0].running else 1
    for connector in connectors:
        print(connector.describe())
    sources = source_states(settings.tables, connectors)
    for source in sources:
        print(source.describe())
    if not connectors and not sources:
        print(f"no connector at {client.url}")
    return 0 if all(s.running for s in sources) else 1


def _read(args: argparse.Namespace) -> "ConnectorFile":
    from streams.kafka.connector_setup import parse_connector_file  # noqa: PLC0415

    where = "stdin" if args.file == "-" else args.file
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    return parse_connector_file(text, where, args.name)


def _checked(client: "ConnectClient", connector: "ConnectorFile", settings: Settings) -> bool:
    """Connect's errors, each on a line (False: nothing may be registered), our warnings."""
    from streams.kafka.connector_setup import check  # noqa: PLC0415

    checked = check(client, connector.config, settings.tables)
    for problem in checked.problems:
        print(f"error: {problem.key}: {problem.message}", file=sys.stderr)
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for fed in checked.feeds:
        print(f"feeds table {fed}")
    if checked.problems:
        count = len(checked.problems)
        print(f"error: connector {connector.name}: {count} error{'s' if count > 1 else ''} "
              "in its config, nothing registered", file=sys.stderr)  # fmt: skip
    return not checked.problems
