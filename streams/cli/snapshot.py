"""`snapshot` (publish a source's items as snapshot events, resumably) and `seed-legacy`."""

import argparse
import asyncio
import sys
from pathlib import Path

from connectors.sources.snapshot_source import WHOLE
from streams.cli.arguments import Subcommands, port_number, positive_int, positive_number
from streams.cli.source_arguments import (
    DEFAULT_TABLE,
    add_legacy_arguments,
    add_source_arguments,
    legacy_options,
    part_argument,
    source_options,
)
from streams.settings import Settings
from streams.snapshot.options import SOURCES, LegacyDataOptions, SnapshotOptions
from streams.snapshot.run import SnapshotSummary


def add_commands(sub: Subcommands) -> None:
    snap = sub.add_parser("snapshot", help="publish a source's items as snapshot events, resumably")
    snap.add_argument("--source", required=True, choices=SOURCES, help="where the items are")
    snap.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    snap.add_argument("--max-rate", type=positive_number, help="items per second at most")
    snap.add_argument(
        "--checkpoint", type=Path, help="checkpoint file (default under CDC_STACK_DIR)"
    )
    snap.add_argument("--workers", type=positive_int, default=1,
                      help="processes, each snapshotting a part (default %(default)s)")  # fmt: skip
    snap.add_argument(
        "--part",
        type=part_argument,
        default=WHOLE,
        help="K/N: only the K-th of N parts, e.g. per machine (default 1/1)",
    )
    snap.add_argument("--metrics-port", type=port_number,
                      help="serve progress as Prometheus metrics on CDC_WEB_HOST:PORT")  # fmt: skip
    add_source_arguments(
        snap,
        table_help=f"declared table (default {DEFAULT_TABLE})",
        chunk_help="items per checkpointed chunk",
    )
    snap.set_defaults(handler=cmd_snapshot)

    seed = sub.add_parser("seed-legacy", help="write a synthetic legacy Redis dataset")
    seed.add_argument("--owners", type=positive_int, required=True, help="how many owners")
    seed.add_argument("--per-owner", type=positive_int, required=True,
                      help="how many items each owner has")  # fmt: skip
    seed.add_argument("--table", default=DEFAULT_TABLE,
                      help=f"declared table (default {DEFAULT_TABLE})")  # fmt: skip
    add_legacy_arguments(seed)
    seed.set_defaults(handler=cmd_seed_legacy)


def snapshot_options(args: argparse.Namespace) -> SnapshotOptions:
    return SnapshotOptions(
        source=source_options(args, args.table), resume=args.resume, max_rate=args.max_rate,
        checkpoint=args.checkpoint, workers=args.workers, part=args.part,
        metrics_port=args.metrics_port,
    )  # fmt: skip


def cmd_snapshot(settings: Settings, args: argparse.Namespace) -> int:
    from streams.snapshot.job import run_snapshot_job  # noqa: PLC0415 -- keep other commands light

    try:
        outcome = asyncio.run(run_snapshot_job(settings, snapshot_options(args)))
    except KeyboardInterrupt:
        print("interrupted: --resume continues from the last checkpoint", file=sys.stderr)
        return 130
    print_summary(outcome.summary, outcome.problems, outcome.processes)
    for part, code in outcome.failed.items():
        print(f"  part {part} exited with {code}; --resume continues every part from its "
              "checkpoint", file=sys.stderr)  # fmt: skip
    if not outcome.failed:
        return 0
    return 2 if set(outcome.failed.values()) == {2} else 1  # 2: each named its cause in one line


def print_summary(summary: SnapshotSummary, problems: list[Path], processes: int = 1) -> None:
    counts = summary.counts
    by = f" by {processes} processes" if processes > 1 else ""
    print(
        f"published {counts['published']:,} items{by} in {summary.seconds:.1f}s "
        f"({summary.rate:,.0f}/s this run), {counts['problems']:,} problems"
    )
    for problem in summary.samples:
        print(f"  problem: {problem.key}: {problem.reason}")
    if counts["problems"]:
        listed = ", ".join(str(path) for path in problems if path.exists())
        print(f"  every problem is listed in {listed}")


def cmd_seed_legacy(settings: Settings, args: argparse.Namespace) -> int:
    from streams.snapshot.sources import generate_legacy_dataset  # noqa: PLC0415

    options = LegacyDataOptions(args.table, args.owners, args.per_owner, legacy_options(args))
    count = asyncio.run(generate_legacy_dataset(settings.sources, options))
    print(f"wrote {count:,} legacy items ({args.owners:,} owners x {args.per_owner:,})")
    return 0
