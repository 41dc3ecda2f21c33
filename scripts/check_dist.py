"""Check the built sdist and wheel before a release: ``python scripts/check_dist.py dist/``.

Stdlib only (``make dist`` runs ``twine check --strict`` for the metadata and README rendering
first). Checks what twine does not: the wheel holds the whole package (the sandbox, ``py.typed``,
the provider entry point, the licence), the metadata names the README as Markdown and the
Apache-2.0 licence, and neither archive carries tests, test data, benchmarks or CI files.
Exits 1 with one line per problem.
"""

from __future__ import annotations

import email.parser
import sys
import tarfile
import zipfile
from pathlib import Path

PACKAGE = "hubspot_events_provider"
#: Files the wheel must hold (the sandbox ships: ``pip install`` users get ``hubspot-sandbox``).
REQUIRED_IN_WHEEL = (
    f"{PACKAGE}/py.typed",
    f"{PACKAGE}/get_provider_info.py",
    f"{PACKAGE}/sandbox/__init__.py",
    f"{PACKAGE}/sandbox/server.py",
    f"{PACKAGE}/sandbox/pytest_plugin.py",
    f"{PACKAGE}/operators/upsert.py",
    f"{PACKAGE}/sensors/marketing_events.py",
    f"{PACKAGE}/hooks/hubspot.py",
)
#: Top-level folders that must never ship, and file kinds that are data rather than code.
FORBIDDEN_TOP = ("tests", "benchmarks", "dags_example", "spec", "constraints", ".ci", ".github")
FORBIDDEN_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".gz", ".db", ".sqlite", ".parquet", ".pyc")


def _top(name: str, strip_root: bool) -> str:
    parts = name.split("/")
    return parts[1] if strip_root and len(parts) > 1 else parts[0]


def _leaks(names: list[str], strip_root: bool) -> list[str]:
    problems = []
    for name in names:
        if _top(name, strip_root) in FORBIDDEN_TOP:
            problems.append(f"{name}: tests, data or tooling must not ship")
        elif name.endswith(FORBIDDEN_SUFFIXES) or "__pycache__" in name:
            problems.append(f"{name}: a data or build file must not ship")
    return problems


def _metadata_problems(text: str, where: str) -> list[str]:
    meta = email.parser.Parser().parsestr(text)
    problems = []
    if meta.get("Name") != "airflow-provider-hubspot-events":
        problems.append(f"{where}: Name is {meta.get('Name')!r}")
    if not (meta.get("Description-Content-Type") or "").startswith("text/markdown"):
        problems.append(f"{where}: the README must be declared text/markdown")
    if "Apache-2.0" not in (meta.get("License-Expression") or meta.get("License") or ""):
        problems.append(f"{where}: the licence Apache-2.0 is not declared")
    if len(meta.get_payload() or "") < 500:
        problems.append(f"{where}: the long description (README) is missing")
    return problems


def check_wheel(path: Path) -> list[str]:
    """Problems with a wheel (an empty list when it is fit to publish)."""
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        problems = [f"{path.name}: {req} is missing" for req in REQUIRED_IN_WHEEL if req not in names]
        info = [n for n in names if n.endswith(".dist-info/METADATA")]
        if len(info) != 1:
            return [*problems, f"{path.name}: expected one METADATA, found {len(info)}"]
        problems += _metadata_problems(wheel.read(info[0]).decode(), path.name)
        entry_points = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        text = wheel.read(entry_points[0]).decode() if entry_points else ""
        if "apache_airflow_provider" not in text or "hubspot-sandbox" not in text:
            problems.append(f"{path.name}: the provider or hubspot-sandbox entry point is missing")
        if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
            problems.append(f"{path.name}: LICENSE is missing")
    return problems + _leaks([n for n in names if ".dist-info/" not in n], strip_root=False)


def check_sdist(path: Path) -> list[str]:
    """Problems with an sdist (an empty list when it is fit to publish)."""
    with tarfile.open(path) as sdist:
        names = [m.name for m in sdist.getmembers() if m.isfile()]
        pkg_info = next((n for n in names if n.count("/") == 1 and n.endswith("/PKG-INFO")), None)
        problems = _leaks(names, strip_root=True)
        for required in ("LICENSE", "README.md", "pyproject.toml", f"{PACKAGE}/sandbox/server.py"):
            if not any(n.split("/", 1)[-1] == required for n in names):
                problems.append(f"{path.name}: {required} is missing")
        if pkg_info is None:
            return [*problems, f"{path.name}: PKG-INFO is missing"]
        member = sdist.extractfile(pkg_info)
        assert member is not None
        problems += _metadata_problems(member.read().decode(), path.name)
    return problems


def check_dist(folder: Path) -> list[str]:
    """Problems with the one wheel and one sdist in ``folder``."""
    wheels, sdists = sorted(folder.glob("*.whl")), sorted(folder.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        return [f"{folder}: expected one wheel and one sdist, found {len(wheels)} and {len(sdists)}"]
    return check_wheel(wheels[0]) + check_sdist(sdists[0])


def main(argv: list[str]) -> int:
    folder = Path(argv[1] if len(argv) > 1 else "dist")
    problems = check_dist(folder)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{folder}: wheel and sdist look fit to publish")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
