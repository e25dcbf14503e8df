"""Progress of long copies: a live bar on a terminal, a log line every few seconds elsewhere."""

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from streams.snapshot.run import SnapshotSummary

LOG_EVERY_SECONDS = 5.0


@contextmanager
def progress_reporter(label: str, total: int | None) -> Iterator["ProgressReporter"]:
    reporter = ProgressReporter(label, total, live=sys.stderr.isatty())
    try:
        yield reporter
    finally:
        reporter.close()


class ProgressReporter:
    def __init__(self, label: str, total: int | None, live: bool) -> None:
        self.label = label
        self.total = total
        self._last_log = 0.0
        self._bar: Progress | None = None
        if live:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.completed:,.0f} items, {task.fields[rate]:,.0f}/s"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._task = self._bar.add_task(label, total=total, rate=0.0)
            self._bar.start()

    def snapshot(self, summary: SnapshotSummary) -> None:
        self(summary.counts["published"] + summary.counts["problems"], summary.rate)

    def __call__(self, done: int, rate: float) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, rate=rate)
        elif time.monotonic() - self._last_log >= LOG_EVERY_SECONDS:
            self._last_log = time.monotonic()
            of = f" of ~{self.total:,}" if self.total else ""
            print(
                f"{self.label}: {done:,}{of} items, {rate:,.0f}/s",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
