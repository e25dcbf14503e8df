"""Which layer may import which: read from the source with ast, so a new import that crosses a
boundary fails here rather than in review."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Connectors build on the domain model and on the contracts (connectors/store.py, the sources'
# contract); each store package keeps to itself.
CONNECTOR_MAY_IMPORT = ("streams.model", "connectors")
PROJECT_PACKAGES = ("streams", "connectors", "tests", "bench")
STORE_PACKAGES = ("connectors.redis", "connectors.dynamodb")
CONNECTOR_MODULES = sorted((ROOT / "connectors").rglob("*.py"))


def imported_modules(source: str) -> set[str]:
    """Every module an `import` or `from ... import` names, at any depth (TYPE_CHECKING too);
    `from a import b` counts as `a.b`, since b may be a module."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in packages)


def runtime_imports(source: str) -> list[str]:
    """The project modules `source` imports that are neither the domain model nor connectors."""
    return sorted(
        m
        for m in imported_modules(source)
        if within(m, PROJECT_PACKAGES) and not within(m, CONNECTOR_MAY_IMPORT)
    )


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


@pytest.mark.parametrize("path", CONNECTOR_MODULES, ids=module_name)
def test_connectors_import_only_the_domain_model_and_the_contracts(path: Path) -> None:
    assert runtime_imports(path.read_text()) == []


@pytest.mark.parametrize("path", CONNECTOR_MODULES, ids=module_name)
def test_a_store_package_imports_no_other_store(path: Path) -> None:
    """The store packages (and the sources) stand side by side: each imports the contracts,
    never another store's modules, so a store can be read, changed or added alone."""
    own = module_name(path)
    others = tuple(p for p in STORE_PACKAGES if not within(own, (p,)))
    assert not [m for m in imported_modules(path.read_text()) if within(m, others)]


def test_the_store_packages_are_where_the_layering_looks() -> None:
    packages = {module_name(p) for p in CONNECTOR_MODULES if p.name == "__init__.py"}
    assert packages >= {*STORE_PACKAGES, "connectors.sources"}


@pytest.mark.parametrize(
    "path", sorted((ROOT / "streams" / "verify").glob("*.py")), ids=lambda p: p.name
)
def test_verify_reaches_the_stores_only_through_the_contract(path: Path) -> None:
    imported = imported_modules(path.read_text())
    assert not [m for m in imported if within(m, STORE_PACKAGES)]


def test_the_rule_sees_runtime_imports_at_any_depth() -> None:
    source = (
        "from streams.model.events import ItemId\n"
        "from streams import model\n"
        "from connectors.store import Store\n"
        "import streams.settings\n"
        "if TYPE_CHECKING:\n"
        "    from streams.pipeline import lww\n"
        "def f() -> None:\n"
        "    from streams.kafka.publisher import Publisher\n"
    )
    assert runtime_imports(source) == [
        "streams.kafka.publisher.Publisher",
        "streams.pipeline.lww",
        "streams.settings",
    ]
