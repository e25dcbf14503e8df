"""A snapshot split into parts: one part in this process, or `--workers N` processes.

One Python process encodes and publishes ~35,000 legacy items/s here, CPU-bound (see
bench/RESULTS.md); the legacy app's 240 million items want more cores, or more machines. Every item
belongs to exactly one part (connectors.sources.snapshot_source.Part), each part checkpoints
on its own, so a part resumes where it stopped whatever happened to the others. The parent
only starts the processes, sums their checkpoints for the progress bar and collects their results.
"""

import asyncio
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from connectors.sources.snapshot_source import Part, SourceProblem
from streams.failures import describe_failure
from streams.kafka.clients import Kafka
from streams.kafka.publisher import Publisher
from streams.logs import kafka_causes_kept
from streams.model.errors import ConfigError
from streams.outcomes import command_outcome
from streams.settings_parts import KafkaSettings, SourceSettings, TopicSettings
from streams.snapshot.options import SnapshotOptions
from streams.snapshot.run import (
    SAMPLE_PROBLEMS,
    Checkpoint,
    Progress,
    SnapshotSummary,
    problems_file,
    run_snapshot,
)
from streams.snapshot.sources import open_source

POLL_SECONDS = 0.5
STOP_SECONDS = 10.0  # after Ctrl-C, for the parts to stop on their own


class PartCheckpoints:
    """Where each part checkpoints: the checkpoint path itself for a whole run, a sibling
    `<name>.part2of4.json` for a part."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def of(self, part: Part) -> Checkpoint:
        if part.count == 1:
            return Checkpoint(self.base)
        name = f"{self.base.stem}.part{part.index + 1}of{part.count}{self.base.suffix}"
        return Checkpoint(self.base.with_name(name))

    def problems_of(self, part: Part) -> Path:
        return problems_file(self.of(part).path)

    def _part_files(self) -> list[Path]:
        pattern = f"{self.base.stem}.part*of*{self.base.suffix}"
        return sorted(self.base.parent.glob(pattern)) if self.base.parent.exists() else []

    def earlier_split(self) -> int | None:
        """Into how many parts the run these checkpoints belong to was split (None: no run)."""
        if self.base.exists():
            return 1
        found = self._part_files()
        return int(found[0].stem.rsplit("of", 1)[1]) if found else None

    def prepare(self, parts: Sequence[Part], *, resume: bool) -> None:
        """On --resume, insist on the earlier run's split (a part's checkpoint only makes sense
        for its own share of the items); otherwise start these parts over."""
        self.check(parts, resume=resume)
        earlier = self.earlier_split()
        if resume or earlier is None:
            return
        print(f"starting over; {self.base} (or its parts) holds an earlier run "
              "(--resume continues it)", file=sys.stderr)  # fmt: skip
        whole = len(parts) == parts[0].count  # a lone --part leaves the other parts' files be
        stale = [self.base, *self._part_files()] if whole else [self.of(p).path for p in parts]
        for path in stale:
            path.unlink(missing_ok=True)
            problems_file(path).unlink(missing_ok=True)

    def check(self, parts: Sequence[Part], *, resume: bool) -> None:
        """Refuse a --resume that has nothing to continue, or another split; touches nothing."""
        earlier = self.earlier_split()
        if resume and earlier not in (None, parts[0].count):
            raise ConfigError(
                f"the run to resume was split into {earlier} parts; resume it with "
                f"{'no --workers' if earlier == 1 else f'--workers {earlier}'}"
            )
        if resume and not any(self.of(part).path.exists() for part in parts):
            raise ConfigError(
                f"--resume: no checkpoint at {self.of(parts[0]).path}; "
                "leave --resume out to start from the beginning"
            )


@dataclass(frozen=True)
class SnapshotRoute:
    """Where a snapshot reads (its source) and where it publishes (the changes topic)."""

    sources: SourceSettings
    kafka: KafkaSettings
    changes: TopicSettings


async def snapshot_part(
    route: SnapshotRoute,
    options: SnapshotOptions,
    part: Part,
    checkpoint: Checkpoint,
    on_progress: Progress | None = None,
) -> SnapshotSummary:
    """The snapshot of one part (or of the whole source) in this process, published to the
    changes topic."""
    source = open_source(route.sources, options.source, part)
    max_rate = options.max_rate
    if max_rate and options.workers > 1:  # each part its share of the rate
        max_rate /= part.count
    origin = f"snapshot:{options.source.name}"
    try:
        kafka, topic, tables = Kafka.of(route.kafka), route.changes.name, route.sources.tables
        async with Publisher(kafka, topic, tables, origin) as publisher:
            return await run_snapshot(
                source, publisher, tables, checkpoint, resume=options.resume,
                max_rate=max_rate, on_progress=on_progress,
                problems_file=problems_file(checkpoint.path),
            )  # fmt: skip
    finally:
        await source.close()


async def run_parts(
    route: SnapshotRoute,
    options: SnapshotOptions,
    checkpoints: PartCheckpoints,
    parts: Sequence[Part],
    on_progress: Progress,
) -> tuple[SnapshotSummary, dict[Part, int]]:
    """Each part in a process of its own; the summed summary, and the exit code of each part
    that failed."""
    context = multiprocessing.get_context("spawn")  # no inherited event loop, threads or sockets
    processes = [
        context.Process(
            target=_part_main,
            args=(route, options, part, checkpoints.of(part).path),
            name=f"snapshot-{part}",
        )
        for part in parts
    ]
    started = time.monotonic()
    for process in processes:
        process.start()
    try:
        while any(process.is_alive() for process in processes):
            on_progress(_summed(checkpoints, parts, time.monotonic() - started))
            await asyncio.sleep(POLL_SECONDS)
    finally:
        _stop(processes)
    summary = _summed(checkpoints, parts, time.monotonic() - started)
    on_progress(summary)
    failed = {
        part: 1 if process.exitcode is None else process.exitcode
        for part, process in zip(parts, processes, strict=True)
        if process.exitcode != 0
    }
    return summary, failed


def _stop(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """Ctrl-C reached the parts too; give them time to stop, then stop what is left."""
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.terminate()
            process.join()


def _summed(checkpoints: PartCheckpoints, parts: Sequence[Part], seconds: float) -> SnapshotSummary:
    summary = SnapshotSummary(seconds=seconds)
    for part in parts:
        saved = checkpoints.of(part).load() or {}
        summary.counts += Counter(saved.get("counts", {}))
    for part in parts:
        room = SAMPLE_PROBLEMS - len(summary.samples)
        summary.samples += _problems(checkpoints.problems_of(part), room)
    return summary


def _problems(path: Path, limit: int) -> list[SourceProblem]:
    if limit <= 0 or not path.exists():
        return []
    with path.open() as lines:
        return [SourceProblem(**json.loads(line)) for line in islice(lines, limit)]


def _part_main(
    route: SnapshotRoute, options: SnapshotOptions, part: Part, checkpoint: Path
) -> None:
    """A part's process: the one-process snapshot of its part, quietly; its checkpoint tells
    the parent how far it got."""
    _exit_with_parent()
    code = 0
    with kafka_causes_kept() as kafka_causes:
        try:
            asyncio.run(snapshot_part(route, options, part, Checkpoint(checkpoint)))
        except KeyboardInterrupt:
            code = 130
        except Exception as exc:
            if command_outcome(exc) != "exit_2":
                raise  # a bug: its traceback, and the parent reports the part failed
            failure = describe_failure(exc, route.kafka.bootstrap_servers, kafka_causes.last)
            print(f"error: part {part}: {failure}", file=sys.stderr)
            code = 2
    sys.exit(code)


def _exit_with_parent() -> None:
    """A part must not outlive a parent that was killed: its checkpoint stays, --resume goes on."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
