"""MarketingEventAttendanceTrigger.run() in an event loop against the HubSpot sandbox over real HTTP:
visible participations, participations appearing once HubSpot's read lag passes, the deadline naming
what is still not visible, an unknown event and a bad token failing fatally, and a serialised form
without credentials that round-trips."""

from __future__ import annotations

import asyncio
import importlib
import json
import pathlib
import threading
import time
from typing import Any

import pytest

from hubspot_events_provider.core.kinds.attendance.readback import Participation
from hubspot_events_provider.sandbox import SandboxServer
from hubspot_events_provider.sensors.attendance import MarketingEventAttendanceSensor
from hubspot_events_provider.triggers.attendance import MarketingEventAttendanceTrigger
from tests.sensors.test_attendance import _record


@pytest.fixture
def sandbox(attendance_sandbox: SandboxServer) -> SandboxServer:
    return attendance_sandbox  # events evt-1 and evt-2 (tests/conftest.py)


def sample(results: str, size: int = 5) -> list[Participation]:
    """The participations the sensor would wait for (same file, same seed)."""
    return MarketingEventAttendanceSensor(task_id="s", results_path=results, sample_size=size).targets()


def trigger(
    keys: list[Participation], wait: float = 30.0, interval: float = 0.05
) -> MarketingEventAttendanceTrigger:
    return MarketingEventAttendanceTrigger(
        hubspot_conn_id="hubspot_default",
        keys=[list(key) for key in keys],
        poke_interval=interval,
        end_at=time.time() + wait,
    )


async def collect(trig: MarketingEventAttendanceTrigger) -> list[dict[str, Any]]:
    return [e.payload async for e in trig.run()]


def held(sandbox: SandboxServer) -> dict[tuple[str, str], tuple[str, int]]:
    return {(p["externalEventId"], p["email"]): (p["state"], p["vid"]) for p in sandbox.participations()}


def test_visible_participations_fire_success_with_what_hubspot_shows(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    sandbox.configure(participation_lag_s=0)
    keys = sample(_record(tmp_path))
    (fired,) = asyncio.run(collect(trigger(keys)))
    assert fired["status"] == "success"
    stored = held(sandbox)
    expected = []
    for key in keys:
        state, vid = stored[(key.event, key.identifier)]
        expected.append(
            {
                "externalAccountId": "acme",
                "externalEventId": key.event,
                "contact": key.contact,
                "subscriberState": key.state,
                "attendanceState": state,
                "contactId": str(vid),  # HubSpot answers ids as strings
            }
        )
    assert fired["found"] == expected
    assert {f["attendanceState"] for f in fired["found"]} <= {"REGISTERED", "ATTENDED"}


def test_same_outcome_as_poke_mode(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    sandbox.configure(participation_lag_s=0)
    results = _record(tmp_path)
    poke_mode = MarketingEventAttendanceSensor(task_id="s", results_path=results, sample_size=5).execute({})
    (fired,) = asyncio.run(collect(trigger(sample(results))))
    assert fired["found"] == poke_mode["found"]


def test_participations_appearing_after_the_read_lag_are_found(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    keys = sample(_record(tmp_path), size=3)
    sandbox.configure(participation_lag_s=60)
    timer = threading.Timer(0.4, sandbox.configure, kwargs={"participation_lag_s": 0})
    timer.start()
    try:
        events = asyncio.run(collect(trigger(keys)))
    finally:
        timer.join()
    assert [e["status"] for e in events] == ["success"]
    assert [f["contact"] for f in events[0]["found"]] == [k.contact for k in keys]
    reads = [r for r in sandbox.requests() if r.path.endswith("/breakdown")]
    assert len(reads) >= 6, "each participation was read again after it was not visible"


def test_deadline_fires_timeout_naming_what_is_not_visible(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    keys = sample(_record(tmp_path), size=2)
    sandbox.configure(participation_lag_s=60)
    started = time.monotonic()
    (fired,) = asyncio.run(collect(trigger(keys, wait=0.4, interval=0.1)))
    assert time.monotonic() - started < 5
    assert fired["status"] == "timeout"
    assert fired["found"] == []
    assert fired["missing"] == [list(k) for k in keys]
    named = ", ".join(f"acme/{k.event}/{k.identifier} ({k.state})" for k in keys)
    assert fired["message"] == f"2 of 2 participation(s) are still not visible in HubSpot: {named}"


def test_an_event_hubspot_never_knows_is_waited_for_then_named(sandbox: SandboxServer) -> None:
    """A 404 for the event is HubSpot's read lag until the wait ends; then the event is named."""
    (fired,) = asyncio.run(
        collect(trigger([Participation("acme", "gone", "vid:151", "register")], wait=0.5, interval=0.1))
    )
    assert fired["status"] == "timeout"
    assert fired["unknown"] == [["acme", "gone"]]
    assert "HubSpot still does not know event(s) acme/gone" in fired["message"]


def test_bad_token_fires_a_fatal_error(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT",
        json.dumps({"conn_type": "hubspot", "host": sandbox.url, "password": "pat-na1-wrong"}),
    )
    (fired,) = asyncio.run(collect(trigger([Participation("acme", "evt-1", "vid:151", "register")])))
    assert (fired["status"], fired["fatal"]) == ("error", True)
    assert "401" in fired["message"]
    assert "pat-na1-wrong" not in json.dumps(fired)


def test_serialised_form_has_ids_and_states_only_and_round_trips(sandbox: SandboxServer) -> None:
    keys = [Participation("acme", "evt-1", "email:a@example.com", "attend"),
            Participation("acme", "evt-2", "vid:9007199254740993", "cancel")]  # fmt: skip
    original = trigger(keys)
    classpath, kwargs = original.serialize()
    assert classpath == "hubspot_events_provider.triggers.attendance.MarketingEventAttendanceTrigger"
    assert set(kwargs) == {"hubspot_conn_id", "keys", "poke_interval", "end_at", "sampled"}
    assert kwargs["keys"] == [
        ["acme", "evt-1", "email:a@example.com", "attend"],
        ["acme", "evt-2", "vid:9007199254740993", "cancel"],  # an int64 id kept whole, as text
    ]
    text = json.dumps(kwargs)
    assert sandbox.token not in text
    assert "password" not in text
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.keys == keys
