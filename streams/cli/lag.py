"""`lag`: each consumer group's lag per partition, in messages and seconds, and its status."""

import argparse
import asyncio
import json
from typing import Any

from streams.cli.arguments import Subcommands, positive_int, positive_number, utf8_text
from streams.model.numbers import counted
from streams.settings import Settings
from streams.stores import STORE_NAMES


def add_commands(sub: Subcommands) -> None:
    lag = sub.add_parser(
        "lag", help="consumer lag per partition, in messages and seconds, and status"
    )
    lag.add_argument(
        "--group",
        type=utf8_text,
        help="one consumer group (default: each store's, <CDC_GROUP_ID>-<store>)",
    )
    lag.add_argument("--json", action="store_true", help="print the report as JSON")
    lag.add_argument(
        "--samples",
        type=positive_int,
        default=3,
        help="samples over the window; status needs >1 (default %(default)s)",
    )
    lag.add_argument(
        "--interval",
        type=positive_number,
        default=2.0,
        help="seconds between samples (default %(default)s)",
    )
    lag.set_defaults(handler=cmd_lag)


def cmd_lag(settings: Settings, args: argparse.Namespace) -> int:
    report = asyncio.run(_report(settings, args.group, args.samples, args.interval))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_lag(report)
    return 0 if report["status"] == "OK" else 1


async def _report(
    settings: Settings, group: str | None, samples: int, interval: float
) -> dict[str, Any]:
    """Each store's group, or the group named: one the broker knows (a store's group that
    never consumed is reported, as STOPPED: nothing consumes for that store)."""
    from streams.kafka.clients import Kafka  # noqa: PLC0415
    from streams.kafka.groups import require_group, store_group  # noqa: PLC0415
    from streams.kafka.lag_report import lag_report  # noqa: PLC0415

    if group:
        await require_group(Kafka.of(settings.kafka), group)
    groups = [group] if group else [store_group(settings.worker, s) for s in STORE_NAMES]
    return await lag_report(settings.intake, settings.debezium, groups, samples, interval)


def print_lag(report: dict[str, Any]) -> None:
    for source in report.get("sources", []):
        print(f"source {source['source']} (table {', '.join(source['tables'])}): "
              f"{source['detail']}")  # fmt: skip
    if report.get("sources"):
        print()
    for n, group in enumerate(report["groups"]):
        if n:
            print()
        members, lag = counted(group["members"], "member"), counted(group["lag"], "message")
        status = f"{group['status']}, {members}, lag {lag}"
        print(f"group {group['group']} on {group['topic']}: {status}")
        print(f"{'partition':>9} {'committed':>10} {'end':>10} {'lag':>8} {'lag s':>8}")
        for p in group["partitions"]:
            committed = "-" if p["committed"] is None else p["committed"]
            row = f"{p['partition']:>9} {committed:>10} {p['end']:>10} {p['lag']:>8}"
            print(f"{row} {p['lag_seconds']:>8.1f}")
