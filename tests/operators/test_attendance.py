"""RecordMarketingEventAttendanceOperator through the hook against the sandbox: every input kind,
the accounting invariant and report files, completion of the events that received attendance,
dry runs, parse-time refusals, and the check operator gating an attendance summary unchanged."""

from __future__ import annotations

import contextlib
import gzip
import json
import pathlib
import sqlite3
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from hubspot_events_provider.core.errors import UnmappedFieldsError
from hubspot_events_provider.operators.check import MarketingEventsUpsertCheckOperator
from hubspot_events_provider.operators.marketing_events import RecordMarketingEventAttendanceOperator
from hubspot_events_provider.sandbox import SandboxServer
from tests.support import connect, event, make_client, read_jsonl

ROWS = [
    {"event": "evt-1", "action": "registered", "mail": "ann@example.com", "at": "2026-11-20T08:00:00Z",
     "first": "Ann"},
    {"event": "evt-1", "action": "attend", "mail": "ann@example.com", "at": "2026-12-01T10:05:00Z",
     "joined": "2026-12-01T10:05:00Z", "left": "2026-12-01T10:50:00Z"},
    {"event": "evt-1", "action": "register", "vid": "151", "at": "2026-11-21T08:00:00Z"},
    {"event": "evt-1", "action": "waitlisted", "mail": "bo@example.com", "at": "2026-11-21T08:00:00Z"},
    {"event": "evt-1", "action": "register", "mail": "not-an-email", "at": "2026-11-21T08:00:00Z"},
    {"event": "evt-9", "action": "register", "mail": "cy@example.com", "at": "2026-11-21T08:00:00Z"},
    {"event": "evt-1", "action": "register", "vid": 424242424242, "at": "2026-11-21T08:00:00Z"},
]  # fmt: skip
MAPPING: dict[str, Any] = {
    "field_map": {
        "event": "externalEventId",
        "action": "subscriberState",
        "mail": "email",
        "at": "interactionDateTime",
        "joined": "joinedAt",
        "left": "leftAt",
    },
    "defaults": {"externalAccountId": "acme"},
    "contact_properties": {"first": "firstname"},
}


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    connect(monkeypatch, hubspot_sandbox, max_requests_per_10s=10_000)
    hubspot_sandbox.configure(participation_lag_s=0)
    with make_client(hubspot_sandbox) as client:
        client.upsert_events([event(1)])
    return hubspot_sandbox


def run(tmp_path: pathlib.Path, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("rejected_path", str(tmp_path / "rejected.jsonl"))
    kwargs.setdefault("results_path", str(tmp_path / "results.jsonl"))
    operator = RecordMarketingEventAttendanceOperator(task_id="attendance", **MAPPING, **kwargs)
    summary: dict[str, Any] = operator.execute({})
    return summary


def test_rows_are_recorded_and_every_other_row_reported(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    summary = run(tmp_path, attendance=ROWS, complete_events=True)
    counts = {k: summary[k] for k in ("total", "upserted", "rejected", "failed", "superseded")}
    assert counts == {"total": 7, "upserted": 3, "rejected": 2, "failed": 2, "superseded": 0}
    rejected = {
        r["position"]: (r["stage"], r["category"], r["field"]) for r in read_jsonl(summary["rejected_path"])
    }
    assert rejected == {
        4: ("validation", "INVALID_SUBSCRIBER_STATE", "subscriberState"),
        5: ("validation", "INVALID_EMAIL", "email"),
        6: ("hubspot", "EVENT_NOT_FOUND", "externalEventId"),
        # HubSpot's default answer only counts the error: found by elimination, no field named
        7: ("hubspot", "VALIDATION_ERROR", None),
    }
    ann = sandbox.get_contact("ann@example.com")
    assert ann is not None
    assert ann["properties"] == {"firstname": "Ann"}
    results = sorted(
        (r["position"], r["contact"], r["objectId"]) for r in read_jsonl(summary["results_path"])
    )
    assert results == [
        (1, "email:ann@example.com", str(ann["vid"])),
        (2, "email:ann@example.com", str(ann["vid"])),
        (3, "vid:151", "151"),
    ]
    parts = {(p["vid"], p["state"], p["joinedAt"], p["leftAt"]) for p in sandbox.participations()}
    assert parts == {
        (ann["vid"], "ATTENDED", "2026-12-01T10:05:00Z", "2026-12-01T10:50:00Z"),
        (151, "NO_SHOW", None, None),  # completion turned the registration into a no-show
    }
    completions = summary["completions"]
    assert {k: completions[k] for k in ("events", "completed", "skipped", "failed")} == {
        "events": 1, "completed": 1, "skipped": 0, "failed": 0,
    }  # fmt: skip
    (done,) = completions["outcomes"]
    assert (done["externalEventId"], done["status"]) == ("evt-1", "completed")
    assert done["startDateTime"].startswith("2026-12-01T10:00:00")
    assert sandbox.get_event("acme", "evt-1")["eventCompleted"] is True  # type: ignore[index]
    (duration,) = [p["attendanceDurationSeconds"] for p in sandbox.participations() if p["vid"] == ann["vid"]]
    assert duration == 45 * 60
    json.dumps(summary)  # an XCom value

    passing = MarketingEventsUpsertCheckOperator(task_id="ok", summary=summary, max_errors=4)
    passing.execute({})
    failing = MarketingEventsUpsertCheckOperator(task_id="no", summary=summary, max_errors=3)
    with pytest.raises(AirflowFailException, match="4 errors exceed max_errors=3"):
        failing.execute({})


def test_a_rerun_records_nothing_new(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    run(tmp_path, attendance=ROWS)
    before = (sandbox.participations(), sandbox.contacts(), sandbox.stats()["timeline_events"])
    again = run(tmp_path, attendance=ROWS)
    assert (again["upserted"], again["failed"], again["rejected"]) == (3, 2, 2)
    strip = ("updatedAt",)
    assert [{k: v for k, v in p.items() if k not in strip} for p in sandbox.participations()] == [
        {k: v for k, v in p.items() if k not in strip} for p in before[0]
    ]
    assert (sandbox.contacts(), sandbox.stats()["timeline_events"]) == before[1:]


def _csv_gz(path: pathlib.Path, rows: list[dict[str, Any]]) -> pathlib.Path:
    columns = sorted({k for r in rows for k in r})
    lines = [",".join(columns)] + [",".join(str(r.get(c, "")) for c in columns) for r in rows]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def test_file_and_sql_inputs(
    sandbox: SandboxServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = ROWS[:3]
    from_file = run(tmp_path, attendance_file=str(_csv_gz(tmp_path / "att.csv.gz", good)))
    assert (from_file["total"], from_file["upserted"], from_file["numErrors"]) == (3, 3, 0)
    database = tmp_path / "w.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE att (event TEXT, action TEXT, mail TEXT, vid TEXT, at TEXT)")
        conn.execute(
            "INSERT INTO att VALUES ('evt-1', 'cancel', 'ann@example.com', NULL, '2026-12-02T00:00:00Z')"
        )
    monkeypatch.setenv("AIRFLOW_CONN_WH", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    from_sql = run(tmp_path, sql="SELECT * FROM att", sql_conn_id="wh")
    assert (from_sql["total"], from_sql["upserted"]) == (1, 1)
    states = {p["email"]: p["state"] for p in sandbox.participations() if p["email"]}
    assert states["ann@example.com"] == "CANCELLED"


def test_dry_run_sends_nothing_and_json_lines_text(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    text = "\n".join(json.dumps(r) for r in ROWS)
    summary = run(tmp_path, attendance=text, dry_run=True, complete_events=True)
    assert (summary["would_upsert"], summary["upserted"], summary["rejected"]) == (5, 0, 2)
    assert "completions" not in summary
    assert [r for r in sandbox.requests() if "/attendance/" in r.path] == []


def test_unmapped_keys_are_refused_before_sending(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    with pytest.raises(UnmappedFieldsError, match="subscriber_state"):
        run(tmp_path, attendance=[{**ROWS[0], "subscriber_state": "x"}])
    assert sandbox.participations() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one input"),
        ({"attendance": ROWS, "sql": "SELECT 1"}, "exactly one input"),
        ({"sql": "SELECT 1"}, "sql_conn_id"),
        ({"attendance": ROWS, "batch_size": 101}, "batch_size"),
        ({"attendance": ROWS, "access_token": "x"}, "refused"),
        ({"attendance": ROWS, "hook_params": {"client_secret": "x"}}, "refused"),
        ({"attendance": ROWS, "defaults": {"subscriberState": "maybe"}}, "subscriberState"),
    ],
)
def test_parse_time_refusals(kwargs: dict[str, Any], message: str) -> None:
    warns = pytest.warns(UserWarning, match="refused") if message == "refused" else contextlib.nullcontext()
    with pytest.raises(ValueError, match=message), warns:
        RecordMarketingEventAttendanceOperator(task_id="t", **kwargs)


def test_registered_through_the_provider_info() -> None:
    import importlib

    from hubspot_events_provider.get_provider_info import get_provider_info

    info = get_provider_info()
    operators = [
        getattr(importlib.import_module(m), "RecordMarketingEventAttendanceOperator", None)
        for entry in info["operators"]
        for m in entry["python-modules"]
    ]
    sensors = [
        getattr(importlib.import_module(m), "MarketingEventAttendanceSensor", None)
        for entry in info["sensors"]
        for m in entry["python-modules"]
    ]
    assert RecordMarketingEventAttendanceOperator in operators
    assert any(s is not None and s.__name__ == "MarketingEventAttendanceSensor" for s in sensors)
