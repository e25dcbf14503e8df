"""The bodies of `snapshot` and `seed-legacy`: split the work, run it, print a summary."""

import argparse
import sys
from pathlib import Path

from connectors.redis_legacy import seed_legacy
from connectors.source import WHOLE, Part
from streams.kafka.clients import Kafka
from streams.kafka.topics import require_topic
from streams.model.errors import ConfigError
from streams.settings import Settings
from streams.snapshot.metrics import SnapshotMetrics
from streams.snapshot.parts import PartCheckpoints, run_parts, snapshot_part
from streams.snapshot.progress import progress_reporter
from streams.snapshot.seed import Progress, SnapshotSummary
from streams.snapshot.sources import (
    check_source,
    default_checkpoint,
    layout,
    legacy_client,
    open_source,
)


async def snapshot(settings: Settings, args: argparse.Namespace) -> int:
    """One process (the whole source, or the part `--part` names) or `--workers` processes."""
    check_source(settings, args.source, args)
    parts = _parts(args)
    checkpoints = PartCheckpoints(
        args.checkpoint or default_checkpoint(settings, args.source, args)
    )
    checkpoints.check(parts, resume=args.resume)
    await require_topic(
        Kafka.of(settings.kafka), settings.topic
    )  # before any checkpoint is touched
    checkpoints.prepare(parts, resume=args.resume)
    total = await _estimate(settings, args)
    metrics = SnapshotMetrics(args.source, total)
    if args.metrics_port:
        metrics.serve(settings.web_host, args.metrics_port)
    try:
        with progress_reporter(f"snapshot {args.source}", total) as progress:

            def report(summary: SnapshotSummary) -> None:
                progress.snapshot(summary)
                metrics.update(summary, _part_counts(checkpoints, parts, summary))

            summary, failed = await _run(settings, args, checkpoints, parts, report)
        if not failed:
            metrics.finished()
    finally:
        metrics.close()
    print_summary(summary, [checkpoints.problems_of(part) for part in parts], len(parts))
    for part, code in failed.items():
        print(f"  part {part} exited with {code}; --resume continues every part from its "
              "checkpoint", file=sys.stderr)  # fmt: skip
    if not failed:
        return 0
    return 2 if set(failed.values()) == {2} else 1  # 2: each named its cause in one line


async def _run(
    settings: Settings,
    args: argparse.Namespace,
    checkpoints: PartCheckpoints,
    parts: list[Part],
    report: Progress,
) -> tuple[SnapshotSummary, dict[Part, int]]:
    if len(parts) > 1:
        return await run_parts(settings, args, checkpoints, parts, report)
    summary = await snapshot_part(settings, args, parts[0], checkpoints.of(parts[0]), report)
    return summary, {}


def _part_counts(
    checkpoints: PartCheckpoints, parts: list[Part], summary: SnapshotSummary
) -> dict[str, dict[str, int]]:
    """Each part's counts: this process's own, or those its part's process checkpointed."""
    if len(parts) == 1:
        return {str(parts[0]): dict(summary.counts)}
    return {str(p): dict((checkpoints.of(p).load() or {}).get("counts", {})) for p in parts}


def _parts(args: argparse.Namespace) -> list[Part]:
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if args.workers == 1:
        return [args.part]
    if args.part != WHOLE:
        raise ConfigError("--workers splits the whole source; it does not combine with --part")
    return [Part(index, args.workers) for index in range(args.workers)]


async def _estimate(settings: Settings, args: argparse.Namespace) -> int | None:
    source = open_source(settings, args.source, args)
    try:
        total = await source.estimate()
    finally:
        await source.close()
    return total // args.part.count if total else total


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


async def seed(settings: Settings, args: argparse.Namespace) -> int:
    spec = settings.table(args.table)
    layout(args).check(spec)  # before connecting: nothing written with a literal {owner_id}
    client = legacy_client(settings, args.legacy_url)
    try:
        count = await seed_legacy(
            client, spec, owners=args.owners, per_owner=args.per_owner, layout=layout(args)
        )
    finally:
        await client.aclose()
    print(f"wrote {count:,} legacy items ({args.owners:,} owners x {args.per_owner:,})")
    return 0
