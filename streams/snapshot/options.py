"""What a snapshot reads and how it runs: frozen options the CLI builds from its flags.

They cross into `--workers` child processes (pickled), so they hold plain values only."""

from dataclasses import dataclass
from pathlib import Path

from connectors.redis.legacy_source import LegacyLayout
from connectors.sources.snapshot_source import WHOLE, Part

SOURCES = ("redis-legacy", "dynamodb", "jsonl", "postgres")


@dataclass(frozen=True)
class LegacyOptions:
    """The legacy Redis dataset: where it is (None: CDC_REDIS_URL) and how its keys look."""

    url: str | None = None
    zset_pattern: str = LegacyLayout.zset_pattern
    meta_pattern: str = LegacyLayout.meta_pattern
    meta_format: str = LegacyLayout.meta_format

    def layout(self, table: str) -> LegacyLayout:
        return LegacyLayout(
            table=table, zset_pattern=self.zset_pattern, meta_pattern=self.meta_pattern,
            meta_format=self.meta_format,
        )  # fmt: skip


@dataclass(frozen=True)
class SourceOptions:
    """One snapshot source (`name`, one of SOURCES) of one declared table, and how to read it."""

    name: str
    table: str
    legacy: LegacyOptions = LegacyOptions()
    file: Path | None = None  # jsonl
    segments: int = 4  # dynamodb: parallel Scan segments
    chunk: int = 5000  # items per checkpointed chunk


@dataclass(frozen=True)
class SnapshotOptions:
    """A `snapshot` run: its source, and how the work is split, paced and checkpointed."""

    source: SourceOptions
    resume: bool = False
    max_rate: float | None = None  # items per second, over all workers
    checkpoint: Path | None = None  # None: one under CDC_STACK_DIR per source
    workers: int = 1
    part: Part = WHOLE
    metrics_port: int | None = None


@dataclass(frozen=True)
class LegacyDataOptions:
    """A `seed-legacy` run: a synthetic legacy dataset of `owners` x `per_owner` items."""

    table: str
    owners: int
    per_owner: int
    legacy: LegacyOptions = LegacyOptions()
