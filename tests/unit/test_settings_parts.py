"""Below the CLI a function takes the settings parts it reads (streams/settings_parts.py), not the
whole `Settings`: read from the source with ast, so a new whole-`Settings` parameter fails here
rather than in review. What assembles a run from many parts is listed, with why."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BELOW_THE_CLI = sorted(
    path
    for path in [*(ROOT / "streams").rglob("*.py"), *(ROOT / "connectors").rglob("*.py")]
    if not path.relative_to(ROOT).as_posix().startswith("streams/cli/")
)
# The functions that keep the whole Settings, by module, and why.
WHOLE_SETTINGS = {
    # The store registry: an opener or preparer is handed the whole config and reads its own
    # store's part (Kafka Connect's model), so a new store needs no new parameter anywhere.
    "streams/stores.py": {
        "_nothing_to_prepare",
        "_nothing_after_rebuild",
        "open_redis",
        "open_dynamodb",
        "open_store",
        "store_opener",
        "prepare_store",
        "prepare_redis",
        "prepare_dynamodb",
        "record_redis_layouts",
        "adopt_redis_layouts",
    },
    # The worker: its app and its start-up assemble every part and prepare the stores.
    "streams/worker/app.py": {"create_app"},
    "streams/worker/run.py": {"prepare", "prepare_until_ready", "run_worker"},
    # Command bodies that open stores through the registry, or assemble a snapshot run.
    "streams/verify/run.py": {"verify"},
    "streams/snapshot/job.py": {"run_snapshot_job"},
    # The local development stack and its demo: every service, every port.
    "streams/devstack/manager.py": {"from_settings"},
    "streams/devstack/demo.py": {
        "start_worker",
        "wait_caught_up",
        "_every_group_caught_up",
        "show_lists",
        "legacy_reader",
        "snapshot_legacy",
        "verify_both",
        "run",
    },
}


def annotation_names(annotation: ast.expr | None) -> set[str]:
    """The names an annotation mentions, also quoted (`"Settings"`), in a union or a generic."""
    names: set[str] = set()
    for node in ast.walk(annotation) if annotation else ():
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names |= annotation_names(ast.parse(node.value, mode="eval").body)
    return names


def whole_settings_parameters(path: Path) -> set[str]:
    """The functions in `path` with a parameter annotated with `Settings`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            if any("Settings" in annotation_names(a.annotation) for a in arguments):
                found.add(node.name)
    return found


def test_below_the_cli_only_the_listed_functions_take_the_whole_settings() -> None:
    """Equal, not a subset: a function narrowed to its parts leaves the list too."""
    found = {
        path.relative_to(ROOT).as_posix(): names
        for path in BELOW_THE_CLI
        if (names := whole_settings_parameters(path))
    }
    assert found == WHOLE_SETTINGS
