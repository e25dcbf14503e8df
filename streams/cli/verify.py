"""`verify`: compare Redis and DynamoDB, or a store and a snapshot source; print the reports."""

import argparse
import asyncio
import json
from collections.abc import Sequence

from streams.cli.arguments import Subcommands
from streams.cli.source_arguments import add_source_arguments, source_options
from streams.model import numbers
from streams.model.numbers import counted
from streams.settings import Settings
from streams.snapshot.options import SOURCES
from streams.stores import STORE_NAMES
from streams.verify.compare import VerifyReport


def add_commands(sub: Subcommands) -> None:
    check = sub.add_parser("verify", help="compare Redis and DynamoDB (or a store and a source)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--repair", action="store_true", help="republish the winner of each drift")
    check.add_argument(
        "--prefer",
        choices=["dynamodb", "redis"],
        default="dynamodb",
        help="who wins when versions tie but data differs (default %(default)s)",
    )
    check.add_argument("--source", choices=SOURCES,
                       help="compare --store against this snapshot source instead")  # fmt: skip
    check.add_argument("--store", choices=STORE_NAMES, default="dynamodb",
                       help="the store compared against --source (default dynamodb)")  # fmt: skip
    add_source_arguments(
        check,
        table_help="declared table (default every table; with --source the first)",
        chunk_help="items read from the source at a time",
    )
    check.set_defaults(handler=cmd_verify, table=None)


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    from streams.verify.run import VerifyOptions, verify  # noqa: PLC0415 -- keep others light

    table = args.table or next(iter(settings.tables))  # the source's, unless named
    source = source_options(args, table) if args.source else None
    options = VerifyOptions(
        table=args.table, repair=args.repair, prefer=args.prefer, store=args.store, source=source
    )
    reports = asyncio.run(verify(settings, options))
    print_reports(reports, args.json)
    return 0 if all(r.drifted == 0 for r in reports) else 1


def print_reports(reports: Sequence[VerifyReport], as_json: bool) -> None:
    if as_json:
        shown = numbers.shown([r.as_json() for r in reports])  # sets and binary as `get` shows them
        print(numbers.dumps(shown, indent=2).decode())
        return
    for report in reports:
        verdict = "agree" if report.drifted == 0 else f"DRIFT ({counted(report.drifted, 'item')})"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()))
        print(f"{report.table}: {verdict}; {counts}")
        for kind, drifts in report.samples.items():
            for drift in drifts:
                key = json.dumps(drift.as_json()["key"], ensure_ascii=False)
                print(f"  {kind}: {key}" + (f" ({drift.problem})" if drift.problem else ""))
        for problem in report.problems:
            print(f"  source problem: {problem}")
        for note in report.notes:
            print(f"  note: {note}")
        for failure in report.unrepairable:
            print(f"  could not republish {failure}")
        if report.counts["unrepairable"]:
            others = "; the others were" if report.counts["republished"] else ""
            print(f"  {counted(report.counts['unrepairable'], 'item')} could not be "
                  f"republished{others}")  # fmt: skip
