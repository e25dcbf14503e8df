"""The command line's shape: help for everything, each command its own flags, typed options."""

import argparse
import dataclasses
import pickle
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sources.snapshot_source import Part
from streams.cli.main import build_parser, main
from streams.cli.rebuild import debezium_notes
from streams.cli.snapshot import snapshot_options
from streams.cli.worker import worker_stores
from streams.model.tables import OPPONENTS, TableSpec
from streams.settings import Settings

STREAMS = Path(__file__).parents[2] / "streams"


def commands(
    parser: argparse.ArgumentParser, path: str = "cdc-replicator"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """The parser and every command's parser under it, each with its command line."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{path} {name}")


def test_every_option_of_every_command_has_help() -> None:
    missing = [
        f"{path}: {'/'.join(action.option_strings) or action.dest}"
        for path, parser in commands(build_parser())
        for action in parser._actions
        if not action.help
    ]
    assert missing == []


def test_every_command_has_help() -> None:
    subcommands = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    assert all(choice.help for choice in subcommands._choices_actions)
    assert len(subcommands._choices_actions) == len(subcommands.choices)


def flags(command: str) -> set[str]:
    parser = dict(commands(build_parser()))[f"cdc-replicator {command}"]
    return {flag for action in parser._actions for flag in action.option_strings}


def test_seed_legacy_shows_only_its_own_flags() -> None:
    assert flags("seed-legacy") == {
        "-h", "--help", "--owners", "--per-owner", "--table", "--legacy-url", "--zset-pattern",
        "--meta-pattern", "--meta-format",
    }  # fmt: skip
    assert {"--file", "--segments", "--chunk"} <= flags("snapshot")


def test_snapshot_options_are_frozen_and_cross_into_a_process() -> None:
    args = build_parser().parse_args(
        ["snapshot", "--source", "jsonl", "--file", "x.jsonl", "--part", "2/3", "--chunk", "7"]
    )
    options = snapshot_options(args)
    assert (options.source.name, options.source.file, options.source.chunk) == (
        "jsonl", Path("x.jsonl"), 7
    )  # fmt: skip
    assert options.part == Part(1, 3)
    # What `--workers` hands each part; our own bytes, read back at once.
    assert pickle.loads(pickle.dumps(options)) == options  # noqa: S301
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.resume = True  # type: ignore[misc]


def test_the_command_line_ends_at_the_cli() -> None:
    """Below streams/cli, nothing imports the CLI or handles an argparse.Namespace."""
    offenders = [
        str(path.relative_to(STREAMS))
        for path in STREAMS.rglob("*.py")
        if "cli" not in path.relative_to(STREAMS).parts
        and re.search(r"^(import|from) (argparse|streams\.cli)\b", path.read_text(), re.M)
    ]
    assert offenders == []


def test_no_command_mutates_its_arguments() -> None:
    mutating = [
        f"{path.name}: {line.strip()}"
        for path in (STREAMS / "cli").glob("*.py")
        for line in path.read_text().splitlines()
        if re.match(r"\s*args\.\w+\s*(=|\+=)", line)
    ]
    assert mutating == []


def test_rebuild_names_the_tables_it_cannot_replay() -> None:
    users = TableSpec(partition_key="user_id", format="debezium", source="pg.public.users")
    settings = Settings(tables={"opponents": OPPONENTS, "users": users})
    [note] = debezium_notes(settings)
    assert "users is fed by pg.public.users" in note
    assert "verify --source postgres --table users --store <the store> --repair" in note
    assert debezium_notes(Settings()) == []


def test_every_option_with_a_default_shows_it_in_its_help() -> None:
    hidden = [
        f"{path}: {'/'.join(action.option_strings)}"
        for path, parser in commands(build_parser())
        for action in parser._actions
        if action.option_strings
        and action.default not in (None, False, [], argparse.SUPPRESS)
        and "(default " not in parser._get_formatter()._expand_help(action)
    ]
    assert hidden == []


def test_verify_help_does_not_speak_of_checkpoints() -> None:
    help_text = dict(commands(build_parser()))["cdc-replicator verify"].format_help()
    assert "checkpoint" not in help_text


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["seed-legacy", "--owners", "1", "--per-owner", "1", "--segments", "3"],
         "cdc-replicator seed-legacy: unrecognized arguments: --segments 3"),
        (["dlq", "list", "--discard", "not_json"],
         "cdc-replicator dlq list: unrecognized arguments: --discard not_json"),
        (["dlq", "replay", "--limit", "3"],
         "cdc-replicator dlq replay: unrecognized arguments: --limit 3"),
        (["dlq", "replay", "--json"], "cdc-replicator dlq replay: unrecognized arguments: --json"),
        (["dlq"], "cdc-replicator dlq: the following arguments are required"),
    ],
)  # fmt: skip
def test_a_flag_a_command_does_not_take_is_refused_naming_the_command(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(argv)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: {named}")


@pytest.mark.parametrize(
    "argv",
    [["get", "--sotre", "redis", "opponents", "owner_id=a", "opponent_id=b"],
     ["get", "--stor", "redis", "opponents", "owner_id=a", "opponent_id=b"],
     ["rebuild", "--store", "redis", "--from-begining"]],
)  # fmt: skip
def test_a_misspelt_or_shortened_flag_is_named_not_guessed(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert (
        stopped.value.code == 2
        and f"unrecognized arguments: {argv[1 if argv[0] == 'get' else 3]}" in err
    )


def test_dlq_command_lines_keep_working() -> None:
    parse = build_parser().parse_args
    listed = parse(["dlq", "list", "--limit", "3", "--json"])
    assert (listed.action, listed.limit, listed.json) == ("list", 3, True)
    replayed = parse(["dlq", "replay", "--discard", "not_json", "--discard", "schema"])
    assert (replayed.action, replayed.discard) == ("replay", ["not_json", "schema"])


def test_a_store_named_twice_in_sinks_is_fed_once() -> None:
    args = build_parser().parse_args(["worker", "--sinks", "dynamodb, redis,dynamodb"])
    assert args.sinks == ["dynamodb", "redis"]


def test_worker_stores_is_the_flag_and_sinks_still_works_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parse = build_parser().parse_args
    assert worker_stores(parse(["worker", "--stores", "dynamodb, redis,dynamodb"])) == [
        "dynamodb",
        "redis",
    ]
    assert worker_stores(parse(["worker"])) == ["redis", "dynamodb"]
    assert capsys.readouterr().err == ""
    assert worker_stores(parse(["worker", "--sinks", "redis"])) == ["redis"]
    assert capsys.readouterr().err == "warning: --sinks is deprecated; use --stores\n"


def test_worker_takes_stores_or_sinks_not_both(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["worker", "--stores", "redis", "--sinks", "redis"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_rebuild_from_a_time_in_the_future_is_refused_before_reading(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Nothing lies after it: the replay would read nothing and exit 0. No service is reached.
    assert main(["rebuild", "--store", "redis", "--from-time", "2999-01-01T00:00Z"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --from-time 2999-01-01T00:00:00+00:00 is in the future")
    assert err.count("\n") == 1


def test_verify_names_the_tables_file_an_undeclared_table_is_missing_from(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDC_TABLES_FILE", "streams/devstack/demo-tables.toml")
    assert main(["verify", "--table", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "'nosuch' is not declared in streams/devstack/demo-tables.toml" in err, err
