"""The example DAG ``hubspot_webinar_attendance`` (``dag.test()`` against the sandbox, SQLite
warehouse from :func:`dags_example.warehouse.build_attendance`), compared row by row with
:func:`dags_example.warehouse.expected_attendance`: every valid participation stored with its
state, time and join/leave; new contacts created with their properties and existing ones untouched;
every other row in the rejected file with its reason; exact counts; counters read back equal to the
warehouse; durations after completion; and a rerun that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dags_example import hubspot_webinar_attendance as example
from dags_example import warehouse
from hubspot_events_provider.core.kinds.attendance.api import get_participation_counters
from hubspot_events_provider.sandbox import SandboxServer
from hubspot_events_provider.sandbox.config import SEED_CONTACTS
from tests.support import make_client, read_jsonl

TASKS = ("upsert_webinars", "record_attendance", "check_attendance_errors", "confirm_attendance_in_hubspot")


@pytest.fixture
def env(hubspot_sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    database = warehouse.build_attendance(tmp_path / "warehouse.db")
    hubspot = {"conn_type": "hubspot", "host": hubspot_sandbox.url, "password": hubspot_sandbox.token}
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(hubspot))
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    monkeypatch.setenv("AIRFLOW_VAR_HUBSPOT_EVENTS_REPORTS_DIR", str(tmp_path / "reports"))
    hubspot_sandbox.configure(participation_lag_s=0)  # the sensor's first poke sees the writes
    return {"sandbox": hubspot_sandbox, "database": database}


def _run() -> tuple[dict[str, str], dict[str, Any]]:
    dag_run = example.dag.test()
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    summary = next(
        ti.xcom_pull(task_ids="record_attendance")
        for ti in dag_run.get_task_instances()
        if ti.task_id == "record_attendance"
    )
    return states, summary


def _stored(sandbox: SandboxServer, expected: warehouse.ExpectedAttendance) -> dict[Any, dict[str, Any]]:
    out = {}
    for p in sandbox.participations():
        keys = [
            (p["externalAccountId"], p["externalEventId"], p["email"].casefold()),
            (p["externalAccountId"], p["externalEventId"], p["vid"]),
        ]
        key = next(k for k in keys if k in expected.participations)
        out[key] = {"state": p["state"], **{n: p[n] for n in ("occurredAt", "joinedAt", "leftAt")}}
    return out


def test_the_example_mappings_are_the_fixtures() -> None:
    assert example.WEBINAR_FIELD_MAP == warehouse.WEBINAR_FIELD_MAP
    assert example.WEBINAR_DEFAULTS == warehouse.WEBINAR_DEFAULTS
    assert example.ATTENDANCE_FIELD_MAP == warehouse.ATTENDANCE_FIELD_MAP
    assert example.ATTENDANCE_CONTACT_PROPERTIES == warehouse.ATTENDANCE_CONTACT_PROPERTIES
    assert example.ATTENDANCE_IGNORE_FIELDS == warehouse.ATTENDANCE_IGNORE_FIELDS


@pytest.mark.usefixtures("airflow_db")
def test_webinar_attendance_lands_row_by_row_and_a_rerun_changes_nothing(env: dict[str, Any]) -> None:
    sandbox: SandboxServer = env["sandbox"]
    expected = warehouse.expected_attendance()
    states, summary = _run()
    assert states == dict.fromkeys(TASKS, "success")

    # every valid participation: state (completion turned registrations into no-shows), time, join/leave
    completed = {
        key: {**value, "state": "NO_SHOW" if value["state"] == "REGISTERED" else value["state"]}
        for key, value in expected.participations.items()
    }
    assert _stored(sandbox, expected) == completed

    # every other row in the rejected file with its reason; exact counts
    lines = read_jsonl(summary["rejected_path"])
    assert {
        r["row"]["row_id"]: r["category"] for r in lines if r["stage"] != "superseded"
    } == expected.rejected
    assert {r["row"]["row_id"] for r in lines if r["stage"] == "superseded"} == expected.superseded
    assert all(r["message"] for r in lines)
    total = len(warehouse.generate_attendance_rows())
    assert (summary["total"], summary["rejected"] + summary["failed"], summary["superseded"]) == (
        total,
        len(expected.rejected),
        len(expected.superseded),
    )
    assert summary["upserted"] == total - len(expected.rejected) - len(expected.superseded)
    assert len(read_jsonl(summary["results_path"])) == summary["upserted"]

    # new contacts with their properties, existing ones untouched
    created = {c["email"].casefold(): c["properties"] for c in sandbox.contacts() if c["origin"] != "seed"}
    assert created == expected.new_contacts
    seeds = {c["vid"]: c["properties"] for c in sandbox.contacts() if c["origin"] == "seed"}
    assert seeds == {c["vid"]: c["properties"] for c in SEED_CONTACTS}

    # counters read back from HubSpot equal the warehouse's; durations computed by /complete
    completions = summary["completions"]
    assert (completions["events"], completions["completed"]) == (
        len(expected.counters),
        len(expected.counters),
    )
    with make_client(sandbox) as client:
        for (account, webinar), before in expected.counters.items():
            after = {**before, "registered": 0, "noShows": before["registered"]}
            assert get_participation_counters(client, account, webinar) == after
    durations = {
        key: p["attendanceDurationSeconds"]
        for key, p in zip(_stored(sandbox, expected), sandbox.participations(), strict=True)
        if p["attendanceDurationSeconds"] is not None
    }
    assert durations == expected.durations

    # a rerun changes nothing
    before = (sandbox.participations(), sandbox.contacts(), sandbox.stats()["timeline_events"])
    states, again = _run()
    assert states == dict.fromkeys(TASKS, "success")
    assert {k: again[k] for k in ("total", "upserted", "rejected", "failed", "superseded")} == {
        k: summary[k] for k in ("total", "upserted", "rejected", "failed", "superseded")
    }
    strip = ("updatedAt",)
    assert [{k: v for k, v in p.items() if k not in strip} for p in sandbox.participations()] == [
        {k: v for k, v in p.items() if k not in strip} for p in before[0]
    ]
    assert sandbox.contacts() == before[1]
    assert sandbox.stats()["timeline_events"] == before[2]
