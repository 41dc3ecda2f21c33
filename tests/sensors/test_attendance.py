"""MarketingEventAttendanceSensor against the sandbox: a sample of an attendance run's results file
becomes visible once HubSpot's participation read lag has passed; the sample's latest state is the
one waited for; timeouts name what is still missing; bad files fail without retry."""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSensorTimeout

from hubspot_events_provider.operators.attendance import RecordMarketingEventAttendanceOperator
from hubspot_events_provider.sandbox import SandboxServer
from hubspot_events_provider.sensors.marketing_events import MarketingEventAttendanceSensor


@pytest.fixture
def sandbox(attendance_sandbox: SandboxServer) -> SandboxServer:
    return attendance_sandbox  # events evt-1 and evt-2 (tests/conftest.py)


def _rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(30):
        contact = {"email": f"p{i}@example.com"}
        when = "2026-11-20T08:00:00Z"
        rows.append({"externalEventId": f"evt-{1 + i % 2}", "subscriberState": "register", **contact,
                     "interactionDateTime": when})  # fmt: skip
        if i % 3 == 0:
            rows.append({"externalEventId": f"evt-{1 + i % 2}", "subscriberState": "attend", **contact,
                         "interactionDateTime": "2026-12-01T10:00:00Z"})  # fmt: skip
    return rows


def _record(tmp_path: pathlib.Path) -> str:
    summary = RecordMarketingEventAttendanceOperator(
        task_id="record",
        attendance=_rows(),
        defaults={"externalAccountId": "acme"},
        results_path=str(tmp_path / "results.jsonl"),
        rejected_path=str(tmp_path / "rejected.jsonl"),
    ).execute({})
    assert summary["upserted"] == 40
    return str(summary["results_path"])


def sensor(**kwargs: Any) -> MarketingEventAttendanceSensor:
    kwargs.setdefault("poke_interval", 0.05)
    kwargs.setdefault("timeout", 30)
    return MarketingEventAttendanceSensor(task_id="confirm", **kwargs)


def test_sample_becomes_visible_after_the_read_lag(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    sandbox.configure(participation_lag_s=0.6)
    results = _record(tmp_path)
    started = time.monotonic()
    out = sensor(results_path=results, sample_size=8, sample_seed=3).execute({})
    assert time.monotonic() - started >= 0.3  # the first pokes saw nothing: HubSpot lags writes
    assert (out["checked"], out["sampled_from"]) == (len(out["found"]), 40)
    assert 1 <= out["checked"] <= 8
    held = {(p["externalEventId"], p["email"]): (p["state"], str(p["vid"])) for p in sandbox.participations()}
    for found in out["found"]:
        email = found["contact"].removeprefix("email:")
        number = int(email[1:].split("@")[0])
        assert found["subscriberState"] == ("attend" if number % 3 == 0 else "register")
        assert (found["attendanceState"], found["contactId"]) == held[(found["externalEventId"], email)]
    again = sensor(results_path=results, sample_size=8, sample_seed=3).execute({})
    assert again["found"] == out["found"]  # same file and seed, same sample


def test_timeout_names_participations_not_visible(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    sandbox.configure(participation_lag_s=60)
    results = _record(tmp_path)
    with pytest.raises(
        AirflowSensorTimeout, match=r"2 of 2 participation\(s\) are still not visible.*acme/evt-"
    ):
        sensor(results_path=results, sample_size=2, timeout=0.3).execute({})


def test_empty_results_file_succeeds_and_bad_lines_fail(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert sensor(results_path=str(empty)).execute({}) == {"found": [], "checked": 0, "sampled_from": 0}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"externalAccountId": "acme", "externalEventId": "evt-1", "objectId": "1"}) + "\n"
    )
    with pytest.raises(AirflowFailException, match="line 1: expected an attendance results line"):
        sensor(results_path=str(bad)).execute({})
    with pytest.raises(ValueError, match="sample_size"):
        sensor(results_path=str(bad), sample_size=0)


def test_an_event_hubspot_never_knows_is_waited_for_then_named(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    """A 404 for the event is HubSpot's read lag until the wait ends; then the event is named."""
    line = {"externalAccountId": "acme", "externalEventId": "gone", "contact": "vid:151",
            "subscriberState": "register", "objectId": "151"}  # fmt: skip
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(line) + "\n")
    started = time.monotonic()
    with pytest.raises(AirflowSensorTimeout, match=r"HubSpot still does not know event\(s\) acme/gone"):
        sensor(results_path=str(path), timeout=1).execute({})
    assert time.monotonic() - started >= 1  # it waited: HubSpot makes events readable minutes late
    assert sum(1 for r in sandbox.requests() if r.path.endswith("/acme/gone/breakdown")) > 1


def test_an_event_readable_only_after_the_read_lag_is_found(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    """Attendance recorded for an event HubSpot does not return yet (its read lag): the sensor
    waits through the 404s and finds it once HubSpot does."""
    from tests.support import event, make_client

    sandbox.configure(read_lag_s=1.5)
    with make_client(sandbox) as client:
        client.upsert_events([event(3)])
    rows = [{"externalEventId": "evt-3", "subscriberState": "register", "email": f"lag{i}@example.com",
             "interactionDateTime": "2026-11-20T08:00:00Z"} for i in range(3)]  # fmt: skip
    summary = RecordMarketingEventAttendanceOperator(
        task_id="record", attendance=rows, defaults={"externalAccountId": "acme"},
        results_path=str(tmp_path / "results.jsonl"),
    ).execute({})  # fmt: skip
    assert summary["upserted"] == 3
    started = time.monotonic()
    out = sensor(results_path=str(summary["results_path"]), timeout=20).execute({})
    assert time.monotonic() - started >= 0.5  # the first reads met the lag's 404
    assert out["checked"] == len(out["found"]) == 3
    breakdowns = [r.status for r in sandbox.requests() if r.path.endswith("/acme/evt-3/breakdown")]
    assert 404 in breakdowns
    assert breakdowns[-1] == 200


def test_bad_token_fails_at_once_and_relative_paths_come_from_the_dag_folder(
    sandbox: SandboxServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import DAG

    line = {"externalAccountId": "acme", "externalEventId": "evt-1", "contact": "vid:151",
            "subscriberState": "register", "objectId": "151"}  # fmt: skip
    (tmp_path / "results.jsonl").write_text(json.dumps(line) + "\n")
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT",
        json.dumps({"conn_type": "hubspot", "host": sandbox.url, "password": "wrong-token"}),
    )
    with DAG("attendance_sensor_relative", schedule=None) as dag:
        op = sensor(results_path="results.jsonl")
    dag.fileloc = str(tmp_path / "dag.py")
    with pytest.raises(AirflowFailException, match="HTTP 401") as info:
        op.execute({})
    assert "wrong-token" not in str(info.value)
    assert op.targets() == [("acme", "evt-1", "vid:151", "register")]
