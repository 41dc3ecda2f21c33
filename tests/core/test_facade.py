"""``hubspot_events_provider.core`` is the stable Airflow-free API: its names import, and the README's
"Use without Airflow" example runs against the sandbox as a plain script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import hubspot_events_provider.core as core
from hubspot_events_provider.sandbox import SandboxServer

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    section = text.split("## Use without Airflow", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README's 'Use without Airflow' section has no python block"
    return match.group(1)


def test_every_exported_name_exists() -> None:
    missing = [name for name in core.__all__ if not hasattr(core, name)]
    assert missing == []
    assert {"HubSpotClient", "ClientConfig", "StaticTokenAuth", "run_upsert", "WriteReport"} <= set(
        core.__all__
    )


def test_the_exports_are_one_list_loaded_on_first_use() -> None:
    """``__all__`` names exactly what the ``TYPE_CHECKING`` imports bring in; importing one core
    module loads neither the facade's other layers nor requests."""
    assert sorted(core.__all__) == sorted(core._exports())
    code = (
        "import sys, hubspot_events_provider.core.kinds.events.mapper\n"
        "heavy = ('requests', 'hubspot_events_provider.core.sync.state')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_readme_example_runs_against_the_sandbox(sandbox: SandboxServer, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(readme_example())
    env = dict(os.environ, HUBSPOT_BASE_URL=sandbox.url, HUBSPOT_TOKEN=sandbox.token)
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2 upserted, 1 rejected: eventName is required")
    assert sandbox.token not in result.stdout + result.stderr
    stored = {e["externalEventId"]: e for e in sandbox.events()}
    assert set(stored) == {"evt-1", "evt-2"}
    assert stored["evt-2"]["eventName"] == "Airflow webinar"
    rejected = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert [r["row"]["id"] for r in rejected] == ["evt-3"]
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert sorted(r["externalEventId"] for r in results) == ["evt-1", "evt-2"]
    assert all(r["objectId"] for r in results)


def test_importing_the_facade_loads_no_airflow() -> None:
    code = (
        "import sys, hubspot_events_provider.core\n"
        "print(any(m.split('.')[0] == 'airflow' for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
