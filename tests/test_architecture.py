"""Guards on the package's shape: a layered, Airflow-free core and the fixed public names.

The core's layers, lowest first; a module may import its own layer and any lower one, never a higher
one. The events kind is the reference kind the other kinds build on (the event paths, the event key),
so it sits below them. Every module under ``core/`` is found by walking the folder: a new module is
covered the day it is added, and one outside every layer fails the test until it is placed.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import hubspot_events_provider

PACKAGE_DIR = pathlib.Path(hubspot_events_provider.__file__).parent
CORE_DIR = PACKAGE_DIR / "core"
CORE = "hubspot_events_provider.core"

#: (layer, the module prefixes it holds), lowest first.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("errors", (f"{CORE}.errors",)),
    ("http", (f"{CORE}.http",)),
    ("rows", (f"{CORE}.rows",)),
    ("engine", (f"{CORE}.engine",)),
    ("kinds.events", (f"{CORE}.kinds.events",)),
    ("kinds", (f"{CORE}.kinds.attendance", f"{CORE}.kinds.deletes", f"{CORE}.kinds")),
    ("sync", (f"{CORE}.sync",)),
    # The facade re-exports every layer: it is the top.
    ("facade", (CORE,)),
)


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_modules() -> list[pathlib.Path]:
    return sorted(CORE_DIR.rglob("*.py"))


def layer_of(module: str) -> int:
    """The rank of the layer holding ``module`` (the longest matching prefix decides)."""
    best: tuple[int, int] | None = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[1]
            ):
                best = (rank, len(prefix))
    if best is None:
        raise AssertionError(f"{module} is in no layer of tests/test_architecture.py LAYERS")
    return best[0]


def imported_modules(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path``, relative ones resolved, ``from x import y`` as x.y."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def upward_or_airflow_imports(path: pathlib.Path) -> list[str]:
    me = module_name(path)
    mine = layer_of(me)
    problems: list[str] = []
    for line, target in imported_modules(path):
        where = f"{path.relative_to(PACKAGE_DIR.parent)}:{line}"
        if target == "airflow" or target.startswith("airflow."):
            problems.append(f"{where}: the core imports Airflow ({target})")
        elif target.startswith(CORE + ".") and _is_module(target) and layer_of(target) > mine:
            problems.append(
                f"{where}: {me} ({LAYERS[mine][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
            )
    return problems


def _is_module(name: str) -> bool:
    """``from pkg import name`` names a module only when that file or package exists."""
    relative = pathlib.Path(*name.split(".")[1:])
    return (PACKAGE_DIR / relative).with_suffix(".py").exists() or (PACKAGE_DIR / relative).is_dir()


def test_every_core_module_is_in_a_layer() -> None:
    modules = core_modules()
    assert len(modules) > 30, "the walk found too few core modules"
    for path in modules:
        layer_of(module_name(path))


def test_no_core_module_imports_upward_or_airflow() -> None:
    problems = [problem for path in core_modules() for problem in upward_or_airflow_imports(path)]
    assert problems == [], "\n".join(problems)


def test_the_rule_catches_an_upward_import(tmp_path: pathlib.Path) -> None:
    """The rule itself can fail: a line that imports upward, or Airflow, is named."""
    probe = CORE_DIR / "http" / "_layer_probe.py"
    probe.write_text("from hubspot_events_provider.core.sync.state import SyncState\nimport airflow.sdk\n")
    try:
        problems = upward_or_airflow_imports(probe)
    finally:
        probe.unlink()
    assert problems == [
        "hubspot_events_provider/core/http/_layer_probe.py:1: hubspot_events_provider.core.http._layer_probe "
        "(http) imports hubspot_events_provider.core.sync.state (sync)",
        "hubspot_events_provider/core/http/_layer_probe.py:2: the core imports Airflow (airflow.sdk)",
    ]


def test_importing_the_core_and_sandbox_loads_no_airflow() -> None:
    """Every core module and the sandbox import without Airflow (also what they import in turn)."""
    names = [module_name(path) for path in core_modules()] + ["hubspot_events_provider.sandbox"]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "print(','.join(leaked))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the core imported Airflow modules: {out.stdout.strip()}"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("hubspot_events_provider.hooks.hubspot", "HubSpotHook"),
        ("hubspot_events_provider.operators.marketing_events", "UpsertMarketingEventsOperator"),
        ("hubspot_events_provider.operators.marketing_events", "MarketingEventsUpsertCheckOperator"),
        ("hubspot_events_provider.operators.marketing_events", "RecordMarketingEventAttendanceOperator"),
        ("hubspot_events_provider.operators.marketing_events", "DeleteMarketingEventsOperator"),
        ("hubspot_events_provider.sensors.marketing_events", "MarketingEventsSensor"),
        ("hubspot_events_provider.sensors.marketing_events", "MarketingEventAttendanceSensor"),
        ("hubspot_events_provider.triggers.marketing_events", "MarketingEventsTrigger"),
        ("hubspot_events_provider.triggers.attendance", "MarketingEventAttendanceTrigger"),
        ("hubspot_events_provider.sandbox", "SandboxServer"),
    ],
)
def test_public_names_live_where_the_product_says(module: str, name: str) -> None:
    imported = __import__(module, fromlist=[name])
    assert isinstance(getattr(imported, name), type)


def test_hook_identity_is_the_documented_one() -> None:
    from hubspot_events_provider.hooks.hubspot import HubSpotHook

    assert HubSpotHook.conn_type == "hubspot"
    assert HubSpotHook.default_conn_name == "hubspot_default"
    assert HubSpotHook.conn_name_attr == "hubspot_conn_id"


def test_version_has_one_source() -> None:
    from importlib.metadata import version

    assert version("airflow-provider-hubspot-events") == hubspot_events_provider.__version__
