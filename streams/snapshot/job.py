"""A `snapshot` run: check the source, split the work, run it with progress and metrics."""

from dataclasses import dataclass
from pathlib import Path

from connectors.sources.snapshot_source import WHOLE, Part
from streams.kafka.clients import Kafka
from streams.kafka.topics import require_topic
from streams.model.errors import ConfigError
from streams.settings import Settings
from streams.settings_parts import DeclaredTables, SourceSettings
from streams.snapshot.metrics import SnapshotMetrics
from streams.snapshot.options import SnapshotOptions
from streams.snapshot.parts import PartCheckpoints, SnapshotRoute, run_parts, snapshot_part
from streams.snapshot.progress import progress_reporter
from streams.snapshot.run import Progress, SnapshotSummary
from streams.snapshot.sources import check_source, default_checkpoint, open_source


@dataclass(frozen=True)
class SnapshotOutcome:
    summary: SnapshotSummary
    problems: list[Path]  # each part's list of source problems
    failed: dict[Part, int]  # the exit code of each part's process that failed

    @property
    def processes(self) -> int:
        return len(self.problems)


async def run_snapshot_job(settings: Settings, options: SnapshotOptions) -> SnapshotOutcome:
    """One process (the whole source, or the part `options.part` names) or `options.workers`.

    The whole Settings: a run assembles the source, the topic, the checkpoint's folder and
    the metrics page."""
    source, sources = options.source, settings.sources
    check_source(sources.tables, source)
    _refuse_lifetime_table(sources.tables, source.table)
    parts = split(options)
    checkpoints = PartCheckpoints(
        options.checkpoint or default_checkpoint(settings.changes, settings.stack_dir, source)
    )
    checkpoints.check(parts, resume=options.resume)
    kafka, changes = settings.kafka, settings.changes
    await require_topic(Kafka.of(kafka), changes.name)  # before any checkpoint is touched
    checkpoints.prepare(parts, resume=options.resume)
    total = await _estimate(sources, options)
    metrics = SnapshotMetrics(source.name, total)
    if options.metrics_port:
        metrics.serve(settings.worker.web_host, options.metrics_port)
    try:
        with progress_reporter(f"snapshot {source.name}", total) as progress:

            def report(summary: SnapshotSummary) -> None:
                progress.snapshot(summary)
                metrics.update(summary, _part_counts(checkpoints, parts, summary))

            route = SnapshotRoute(sources, kafka, changes)
            summary, failed = await _run(route, options, checkpoints, parts, report)
        if not failed:
            metrics.finished()
    finally:
        metrics.close()
    return SnapshotOutcome(summary, [checkpoints.problems_of(part) for part in parts], failed)


def split(options: SnapshotOptions) -> list[Part]:
    """The parts this run snapshots: `--part`'s one, or one per worker process."""
    if options.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if options.workers == 1:
        return [options.part]
    if options.part != WHOLE:
        raise ConfigError("--workers splits the whole source; it does not combine with --part")
    return [Part(index, options.workers) for index in range(options.workers)]


async def _run(
    route: SnapshotRoute,
    options: SnapshotOptions,
    checkpoints: PartCheckpoints,
    parts: list[Part],
    report: Progress,
) -> tuple[SnapshotSummary, dict[Part, int]]:
    if len(parts) > 1:
        return await run_parts(route, options, checkpoints, parts, report)
    summary = await snapshot_part(route, options, parts[0], checkpoints.of(parts[0]), report)
    return summary, {}


def _part_counts(
    checkpoints: PartCheckpoints, parts: list[Part], summary: SnapshotSummary
) -> dict[str, dict[str, int]]:
    """Each part's counts: this process's own, or those its part's process checkpointed."""
    if len(parts) == 1:
        return {str(parts[0]): dict(summary.counts)}
    return {str(p): dict((checkpoints.of(p).load() or {}).get("counts", {})) for p in parts}


async def _estimate(sources: SourceSettings, options: SnapshotOptions) -> int | None:
    source = open_source(sources, options.source)
    try:
        total = await source.estimate()
    finally:
        await source.close()
    return total // options.part.count if total else total


def _refuse_lifetime_table(tables: DeclaredTables, table: str) -> None:
    """A lifetime counts from the change's time, and a snapshot's items carry none (their
    version is the lowest): every one would arrive expired, and the run would report success."""
    expiry = tables.table(table).expiry
    if expiry is not None and expiry.lifetime_seconds is not None:
        raise ConfigError(
            f"table {table} expires items {expiry.lifetime_seconds}s after their change's time, "
            "and a snapshot's items have none: they would arrive expired; publish them as "
            "changes instead (cdc-replicator publish)"
        )
