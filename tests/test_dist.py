"""The release (issue 16, defect 8): ``uv build`` makes an sdist and a wheel that pass
``scripts/check_dist.py``, and the wheel installs into a clean venv where the provider imports and
Airflow finds it. The checker itself refuses a wheel without ``py.typed`` or with tests inside."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_dist", REPO / "scripts" / "check_dist.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _uv_command() -> list[str] | None:
    """uv as the Makefile finds it: on PATH, in this interpreter, or as ``python3 -m uv``."""
    if shutil.which("uv"):
        return ["uv"]
    for python in (sys.executable, shutil.which("python3")):
        if python and subprocess.run([python, "-m", "uv", "--version"], capture_output=True).returncode == 0:
            return [python, "-m", "uv"]
    return None


def _uv(*args: str) -> None:
    command = _uv_command()
    if command is None:
        pytest.skip("uv is not installed (make env installs it)")
    subprocess.run([*command, *args], check=True, cwd=REPO, timeout=300)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _uv("build", "--quiet", "--out-dir", str(out))
    return out


def test_built_archives_pass_the_release_checks(dist: Path) -> None:
    assert _checker().check_dist(dist) == []
    [wheel] = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "hubspot_events_provider/py.typed" in names
    assert "hubspot_events_provider/sandbox/server.py" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "dags_example/"))]


def test_the_checker_refuses_a_wheel_missing_py_typed_or_carrying_tests(dist: Path, tmp_path: Path) -> None:
    [good] = dist.glob("*.whl")
    bad = tmp_path / good.name
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            if item.filename != "hubspot_events_provider/py.typed":
                dst.writestr(item, src.read(item))
        dst.writestr("tests/data/events.csv", "id\n1\n")
    problems = _checker().check_wheel(bad)
    assert any("py.typed is missing" in p for p in problems)
    assert any(p.startswith("tests/data/events.csv") for p in problems)


def test_the_wheel_installs_into_a_clean_venv(dist: Path, tmp_path: Path) -> None:
    from importlib.metadata import version

    [wheel] = dist.glob("*.whl")
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    # The Python running the suite (uv takes a venv's base interpreter): 3.11 in test-main, 3.13 in test-313.
    _uv("venv", "--quiet", "-p", sys.executable, str(venv))
    _uv(
        "pip",
        "install",
        "--quiet",
        "-p",
        str(python),
        str(wheel),
        f"apache-airflow=={version('apache-airflow')}",
    )
    probe = (
        "import importlib.metadata as m, json\n"
        "from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator\n"
        "from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor\n"
        "import hubspot_events_provider as p\n"
        "[ep] = [e for e in m.entry_points(group='apache_airflow_provider') if e.dist.name == "
        "'airflow-provider-hubspot-events']\n"
        "info = ep.load()()\n"
        "print(json.dumps({'file': p.__file__, 'version': p.__version__, 'package': info['package-name']}))\n"
    )
    out = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["file"].startswith(str(venv))  # the installed wheel, not this checkout
    assert result["version"] == version("airflow-provider-hubspot-events")
    assert result["package"] == "airflow-provider-hubspot-events"
    sandbox_help = subprocess.run(
        [str(venv / "bin" / "hubspot-sandbox"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert sandbox_help.returncode == 0
    assert "--port" in sandbox_help.stdout
