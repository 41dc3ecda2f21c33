"""``MarketingEventAttendanceSensor(deferrable=True)`` against the sandbox: the default from
``[operators] default_deferrable``, one poke before deferring, a trigger carrying ids and expected
states only, ``execute_complete`` giving poke mode's outcomes, and ``dag.test()`` runs (the trigger
runs in process) that succeed once HubSpot's read lag has passed or fail naming the participations
still not visible. The trigger's own run: ``tests/triggers/test_attendance_trigger.py``."""

from __future__ import annotations

import json
import pathlib
import threading
import time
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from hubspot_events_provider.sandbox import SandboxServer
from hubspot_events_provider.sensors.marketing_events import MarketingEventAttendanceSensor
from hubspot_events_provider.triggers.attendance import MarketingEventAttendanceTrigger
from tests.sensors.test_attendance import _record
from tests.sensors.test_marketing_events import _run


@pytest.fixture
def sandbox(attendance_sandbox: SandboxServer) -> SandboxServer:
    return attendance_sandbox  # events evt-1 and evt-2 (tests/conftest.py)


def deferrable(**kwargs: Any) -> MarketingEventAttendanceSensor:
    kwargs.setdefault("poke_interval", 0.1)
    kwargs.setdefault("timeout", 30)
    return MarketingEventAttendanceSensor(task_id="confirm", deferrable=True, **kwargs)


def breakdown_reads(sandbox: SandboxServer) -> list[Any]:
    return [r for r in sandbox.requests() if r.method == "GET" and r.path.endswith("/breakdown")]


def held(sandbox: SandboxServer) -> dict[tuple[str, str], tuple[str, str]]:
    """``(event, email) -> (state, contact id)`` as the sandbox holds them."""
    return {(p["externalEventId"], p["email"]): (p["state"], str(p["vid"])) for p in sandbox.participations()}


@pytest.mark.parametrize(("setting", "expected"), [(None, False), ("True", True), ("False", False)])
def test_default_comes_from_operators_default_deferrable(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, expected: bool
) -> None:
    if setting is None:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", setting)
    assert MarketingEventAttendanceSensor(task_id="w", results_path="r.jsonl").deferrable is expected
    flipped = MarketingEventAttendanceSensor(task_id="w", results_path="r.jsonl", deferrable=not expected)
    assert flipped.deferrable is not expected


def test_all_visible_at_the_first_poke_returns_without_deferring(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    sandbox.configure(participation_lag_s=0)
    results = _record(tmp_path)
    out = deferrable(results_path=results, sample_size=4).execute({})
    assert (out["checked"], out["sampled_from"]) == (4, 40)
    assert len(breakdown_reads(sandbox)) == 4  # one poke, one read per sampled participation
    stored = held(sandbox)
    for found in out["found"]:
        key = (found["externalEventId"], found["contact"].removeprefix("email:"))
        assert (found["attendanceState"], str(found["contactId"])) == stored[key]


def test_participations_not_visible_defer_with_ids_and_states_only(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    from airflow.providers.common.compat.sdk import TaskDeferred

    sandbox.configure(participation_lag_s=60)
    results = _record(tmp_path)
    sensor = deferrable(results_path=results, sample_size=3, sample_seed=5, timeout=100)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, MarketingEventAttendanceTrigger)
    _, kwargs = trigger.serialize()
    targets = [list(t) for t in sensor.targets()]
    assert len(targets) == 3
    assert kwargs["keys"] == targets  # nothing visible yet: every sampled participation
    assert all(
        k[0] == "acme" and k[2].startswith("email:p") and k[3] in ("register", "attend") for k in targets
    )
    assert kwargs["hubspot_conn_id"] == "hubspot_default"
    assert before + 100 <= kwargs["end_at"] <= time.time() + 100
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.kwargs == {"targets": targets, "found": [], "sampled_from": 40}
    assert sandbox.token not in json.dumps([kwargs, deferred.value.kwargs])
    assert len(breakdown_reads(sandbox)) == 3  # one poke on the worker


TARGETS = [["acme", "evt-1", "email:a@example.com", "attend"], ["acme", "evt-2", "vid:151", "register"]]
FOUND_A = {
    "externalAccountId": "acme",
    "externalEventId": "evt-1",
    "contact": "email:a@example.com",
    "subscriberState": "attend",
    "attendanceState": "ATTENDED",
    "contactId": "201",
}


def complete(sensor: MarketingEventAttendanceSensor, event: dict[str, Any]) -> Any:
    return sensor.execute_complete({}, event, targets=TARGETS, found=[FOUND_A], sampled_from=7)


def test_success_event_gives_poke_modes_xcom_value() -> None:
    found_b = {**FOUND_A, "externalEventId": "evt-2", "contact": "vid:151", "subscriberState": "register",
               "attendanceState": "NO_SHOW", "contactId": "151"}  # fmt: skip
    value = complete(deferrable(results_path="r.jsonl"), {"status": "success", "found": [found_b]})
    assert value == {"found": [FOUND_A, found_b], "checked": 2, "sampled_from": 7}


def test_timeout_event_names_the_participations_not_visible() -> None:
    event = {"status": "timeout", "found": [], "missing": [TARGETS[1]]}
    expected = r"1 of 2 participation\(s\) are still not visible in HubSpot: acme/evt-2/151 \(register\)$"
    with pytest.raises(AirflowSensorTimeout, match=expected):
        complete(deferrable(results_path="r.jsonl"), event)
    with pytest.raises(AirflowSkipException, match="acme/evt-2/151"):
        complete(deferrable(results_path="r.jsonl", soft_fail=True), event)


def test_timeout_event_names_the_events_hubspot_still_does_not_know() -> None:
    event = {"status": "timeout", "found": [], "missing": [TARGETS[1]], "unknown": [["acme", "evt-2"]]}
    with pytest.raises(AirflowSensorTimeout, match=r"HubSpot still does not know event\(s\) acme/evt-2"):
        complete(deferrable(results_path="r.jsonl"), event)


def test_error_events_fail_like_poke_mode() -> None:
    fatal = {"status": "error", "fatal": True, "message": "HubSpot does not know event acme/gone"}
    with pytest.raises(AirflowFailException, match="does not know event acme/gone"):
        complete(deferrable(results_path="r.jsonl"), fatal)
    with pytest.raises(AirflowException, match="503") as raised:
        complete(
            deferrable(results_path="r.jsonl"), {"status": "error", "fatal": False, "message": "HTTP 503"}
        )
    assert not isinstance(raised.value, AirflowFailException)  # retries apply


def _show_after_reads(sandbox: SandboxServer, count: int) -> threading.Thread:
    """End HubSpot's read lag once ``count`` breakdowns were read (the worker's poke, all missed)."""

    def run() -> None:
        while len(breakdown_reads(sandbox)) < count:
            threading.Event().wait(0.01)
        sandbox.configure(participation_lag_s=0)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.usefixtures("airflow_db")
def test_dag_deferred_sensor_succeeds_once_hubspot_shows_the_sample(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    from tests.dags import attendance_sensor_dags

    results = _record(tmp_path)
    sandbox.configure(participation_lag_s=60)  # the worker's poke sees nothing: it defers
    thread = _show_after_reads(sandbox, 6)
    state, value = _run(attendance_sensor_dags.deferred, {"results_path": results})
    thread.join(5)
    assert state == ("success", 1)
    assert (value["checked"], value["sampled_from"]) == (6, 40)
    stored = held(sandbox)
    for found in value["found"]:
        email = found["contact"].removeprefix("email:")
        number = int(email[1:].split("@")[0])
        assert found["subscriberState"] == ("attend" if number % 3 == 0 else "register")
        assert (found["attendanceState"], str(found["contactId"])) == stored[
            (found["externalEventId"], email)
        ]
    # The first poke read all 6 and missed them; the trigger read them again until visible.
    assert len(breakdown_reads(sandbox)) >= 12
    # Same sample, poke mode: the same XCom value.
    sandbox.configure(participation_lag_s=0)
    poke_mode = MarketingEventAttendanceSensor(
        task_id="confirm", results_path=results, sample_size=6, deferrable=False, poke_interval=0.1
    ).execute({})
    assert json.loads(json.dumps(poke_mode)) == value


@pytest.mark.usefixtures("airflow_db")
def test_dag_deferred_sensor_fails_naming_the_participations_not_visible(
    sandbox: SandboxServer, tmp_path: pathlib.Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from tests.dags import attendance_sensor_dags

    results = _record(tmp_path)
    sandbox.configure(participation_lag_s=60)
    state, value = _run(attendance_sensor_dags.times_out, {"results_path": results})
    assert state == ("failed", 1)  # a sensor timeout is not retried, retries=2 notwithstanding
    assert value is None
    sample = MarketingEventAttendanceSensor(task_id="s", results_path=results, sample_size=2).targets()
    # Whitespace normalised: Airflow 3.0 prints the error in a rich traceback wrapped at 80 columns.
    output = " ".join("".join(capfd.readouterr()).split())
    assert "2 of 2 participation(s) are still not visible in HubSpot: " in output
    for p in sample:  # the event, the contact and the state of each
        assert f"{p.account}/{p.event}/{p.identifier} ({p.state})" in output
