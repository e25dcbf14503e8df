"""Argument types and the parser of the command line: nonsense is refused while parsing, in one
line with exit code 2, before anything connects or writes."""

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

from streams.settings_checks import check_redis_url, is_utf8
from streams.stores import STORE_NAMES


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line like every other error (and exit code 2), and
    no abbreviated flags (`--stor` taken for `--store` hides a typo)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

    def error(self, message: str) -> NoReturn:
        unknown = _unknown_flags(self, getattr(self, "_parsing", []))
        if unknown and self._subparsers is None and "unrecognized" not in message:
            message = f"unrecognized arguments: {' '.join(unknown)}"  # the cause, not its effect
        self.exit(2, f"error: {self.prog}: {message} (--help shows the usage)\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """A command's parser refuses what it does not know itself: left to the top parser,
        the error would not name the command (`cdc-replicator seed-legacy: unrecognized ...`)."""
        self._parsing = list(sys.argv[1:] if args is None else args)
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def _unknown_flags(parser: argparse.ArgumentParser, args: list[str]) -> list[str]:
    """The `--flag`s (before a `--`) that the parser does not define."""
    known = parser._option_string_actions  # argparse keeps them only there
    before = args[: args.index("--")] if "--" in args else args
    return [a for a in before if a.startswith("--") and a.split("=", 1)[0] not in known]


# A command group adds its commands to these; each command sets its handler as `handler`,
# called with the settings and the parsed arguments.
Subcommands: TypeAlias = "argparse._SubParsersAction[Parser]"


def positive_int(text: str) -> int:
    """A count, a size or a limit: 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def port_number(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def positive_number(text: str) -> float:
    """A rate or an interval: a finite number above 0 (0, a negative or nan would mean
    'unlimited' or 'never' by accident)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return value


def input_file(text: str) -> str:
    """A readable regular file, or - for stdin."""
    if text != "-" and not Path(text).is_file():
        why = "is a directory" if Path(text).is_dir() else "no such file"
        raise argparse.ArgumentTypeError(f"{text}: {why}")
    return text


def utf8_text(text: str) -> str:
    """Text that reaches a store or Kafka. Bytes the locale cannot decode (a Latin-1 terminal,
    say) reach Python as lone surrogates, which every client refuses deep inside."""
    if not is_utf8(text):
        raise argparse.ArgumentTypeError("not UTF-8 text")
    return text


def key_value(text: str) -> tuple[str, str]:
    """`name=value`; the value may be empty: Redis holds such an item (DynamoDB cannot)."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected attribute=value, got {text!r}")
    if not is_utf8(text):
        raise argparse.ArgumentTypeError(f"{name}: not UTF-8 text")
    return name, value


def store_list(text: str) -> list[str]:
    # Once each: `redis,redis` would give a worker two feeds in one group, one never applied.
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = set(names) - set(STORE_NAMES)
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(STORE_NAMES)}")
    return names


def redis_url(text: str) -> str:
    try:
        return check_redis_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
