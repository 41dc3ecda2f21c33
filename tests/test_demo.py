"""``python -m dags_example.demo`` (``make demo``) end to end: sandbox, warehouse, ``airflow dags test``.

About 40-60 s (two Airflow CLI subprocesses), so it is marked ``slow``: ``make test-slow`` runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dags_example import warehouse

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_runs_the_sync_and_attendance_dags_and_reports(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    }
    env["HUBSPOT_EVENTS_DEMO_DIR"] = str(tmp_path / "demo")
    env.pop("AIRFLOW_HOME", None)

    result = subprocess.run(
        [sys.executable, "-m", "dags_example.demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "rows read from the warehouse: 301" in out
    assert "upserted into HubSpot:        297" in out
    assert "rejected (not sent):          3" in out
    for reason in ("END_BEFORE_START", "INVALID_DATETIME", "MISSING_REQUIRED_FIELD"):
        assert reason in out
    assert "superseded (a later row of the same event won)" in out
    assert "sandbox now holds 297 events (99 conferences, 99 webinars, 99 workshops" in out
    rejected = sorted((tmp_path / "demo" / "reports").rglob("rejected.jsonl"))
    assert len(rejected) == 2
    sync = next(p for p in rejected if "hubspot_marketing_events_sync" in str(p))
    assert len(sync.read_text().splitlines()) == 4
    expected = warehouse.expected_attendance()
    rows = len(warehouse.generate_attendance_rows())
    recorded = rows - len(expected.rejected) - len(expected.superseded)
    assert "=== HubSpot webinar attendance demo ===" in out
    assert f"rows read from the export:        {rows}" in out
    assert f"participations recorded:          {recorded}" in out
    assert f"not recorded (with the reason):   {len(expected.rejected)}" in out
    for category in set(expected.rejected.values()):
        assert f": {category}: " in out
    assert f"contacts created by HubSpot: {len(expected.new_contacts)}" in out
    assert out.count("(completed)") == len(expected.counters)


@pytest.mark.slow
def test_demo_with_a_misspelled_property_shows_the_sensor_catching_it(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    }
    env["HUBSPOT_EVENTS_DEMO_DIR"] = str(tmp_path / "demo")
    env.pop("AIRFLOW_HOME", None)

    result = subprocess.run(
        [sys.executable, "-m", "dags_example.demo", "--misspell"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "upserted into HubSpot:        297" in out  # HubSpot said yes to every valid row...
    assert "silently dropped" in out  # ...and dropped the misspelled property
    assert "The sensor ended the run red: HubSpot does not hold what was sent" in out
    assert "custom property 'capcity' was dropped by HubSpot in" in out
