"""The flags that say which snapshot source to read and how, and the options they build."""

import argparse
from pathlib import Path

from connectors.sources.snapshot_source import Part
from streams.cli.arguments import positive_int, redis_url, utf8_text
from streams.snapshot.options import LegacyOptions, SourceOptions

DEFAULT_TABLE = "opponents"


def add_legacy_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the legacy Redis dataset is and how its keys are laid out."""
    parser.add_argument(
        "--legacy-url", type=redis_url, help="legacy Redis URL (default CDC_REDIS_URL)"
    )
    parser.add_argument("--zset-pattern", default=LegacyOptions.zset_pattern, type=utf8_text,
                        help="key of an owner's sorted set (default %(default)s)")  # fmt: skip
    parser.add_argument("--meta-pattern", default=LegacyOptions.meta_pattern, type=utf8_text,
                        help="key of an item's metadata (default %(default)s)")  # fmt: skip
    parser.add_argument("--meta-format", default=LegacyOptions.meta_format,
                        choices=["text", "json"],
                        help="metadata as UTF-8 text or a JSON value (default text)")  # fmt: skip


def add_source_arguments(
    parser: argparse.ArgumentParser, *, table_help: str, chunk_help: str
) -> None:
    """Every source's flags; each applies to the --source its help names."""
    parser.add_argument("--table", default=DEFAULT_TABLE, help=table_help)
    add_legacy_arguments(parser)
    parser.add_argument("--file", type=Path, help="JSON Lines file (--source jsonl)")
    segments_help = "parallel Scan segments, --source dynamodb (default %(default)s)"
    parser.add_argument("--segments", type=positive_int, default=SourceOptions.segments,
                        help=segments_help)  # fmt: skip
    parser.add_argument("--chunk", type=positive_int, default=SourceOptions.chunk,
                        help=f"{chunk_help} (default %(default)s)")  # fmt: skip


def part_argument(text: str) -> Part:
    try:
        return Part.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def legacy_options(args: argparse.Namespace) -> LegacyOptions:
    return LegacyOptions(
        url=args.legacy_url, zset_pattern=args.zset_pattern, meta_pattern=args.meta_pattern,
        meta_format=args.meta_format,
    )  # fmt: skip


def source_options(args: argparse.Namespace, table: str) -> SourceOptions:
    """The source `--source` names, of `table`, read as the source flags say."""
    return SourceOptions(
        name=args.source, table=table, legacy=legacy_options(args), file=args.file,
        segments=args.segments, chunk=args.chunk,
    )  # fmt: skip
