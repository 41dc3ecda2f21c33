"""MarketingEventsTrigger with what was sent: it compares each read with core.verify as poke mode
does (a dropped custom property is a fatal error naming it, another difference is read again and
reported at the deadline), and the deferred sensor turns its events into poke mode's outcomes."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSensorTimeout

from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.sandbox import SandboxServer
from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor
from hubspot_events_provider.triggers.marketing_events import MarketingEventsTrigger
from tests.support import wait_out_read_lag


def sent(eid: str, **fields: Any) -> dict[str, Any]:
    out = {"eventName": f"Webinar {eid}", "eventOrganizer": "Acme"}
    out.update(fields)
    return out


def upsert(sandbox: SandboxServer, eid: str, **fields: Any) -> None:
    client = HubSpotClient(ClientConfig(base_url=sandbox.url), StaticTokenAuth(sandbox.token))
    try:
        client.upsert_events([{"externalAccountId": "acme", "externalEventId": eid, **sent(eid, **fields)}])
    finally:
        client.close()
    wait_out_read_lag(sandbox)  # HubSpot's read lag: these tests are of what the trigger reads after it


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT",
        json.dumps({"conn_type": "hubspot", "host": hubspot_sandbox.url, "password": hubspot_sandbox.token}),
    )
    return hubspot_sandbox


def trigger(values: dict[str, dict[str, Any]], *, wait: float = 30.0) -> MarketingEventsTrigger:
    return MarketingEventsTrigger(
        hubspot_conn_id="hubspot_default",
        keys=[["acme", eid] for eid in values],
        poke_interval=0.05,
        end_at=time.time() + wait,
        sent=[["acme", eid, value] for eid, value in values.items()],
        sampled=5,
    )


async def collect(trig: MarketingEventsTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trig.run()]


PROPS = {"customProperties": [{"name": "region", "value": "emea"}, {"name": "capcity", "value": "40"}]}


def test_a_dropped_property_appearing_later_is_a_fatal_error_naming_it(sandbox: SandboxServer) -> None:
    timer = threading.Timer(0.2, upsert, args=(sandbox, "e1"), kwargs=PROPS)
    timer.start()
    try:
        (event,) = asyncio.run(collect(trigger({"e1": sent("e1", **PROPS)})))
    finally:
        timer.join()
    assert (event["status"], event["fatal"]) == ("error", True)
    assert event["message"].startswith(
        "HubSpot does not hold what was sent for 1 of 5 sampled event(s): custom property 'capcity' was "
        "dropped by HubSpot in 1 of 5 sampled event(s)"
    )
    # The deferred sensor fails with it, no retry: the same outcome as poke mode.
    sensor = MarketingEventsSensor(task_id="wait", external_ids=[], deferrable=True)
    with pytest.raises(AirflowFailException, match="custom property 'capcity' was dropped"):
        sensor.execute_complete({}, event, targets=[["acme", "e1"]], found=[], sampled_from=5, verified=1)


def test_a_value_that_differs_until_the_deadline_is_reported_with_both_values(sandbox: SandboxServer) -> None:
    upsert(sandbox, "e1", eventName="Renamed")
    (event,) = asyncio.run(collect(trigger({"e1": sent("e1")}, wait=0.3)))
    assert event["status"] == "timeout"
    assert event["missing"] == []
    assert "eventName: sent 'Webinar e1', HubSpot holds 'Renamed'" in event["differs"]
    sensor = MarketingEventsSensor(task_id="wait", external_ids=[], deferrable=True)
    with pytest.raises(AirflowSensorTimeout, match="1 of 5 event\\(s\\) still differ in HubSpot"):
        sensor.execute_complete({}, event, targets=[["acme", "e1"]], found=[], sampled_from=5, verified=1)


def test_a_difference_that_heals_ends_in_success(sandbox: SandboxServer) -> None:
    upsert(sandbox, "e1", eventName="Stale")
    timer = threading.Timer(0.2, upsert, args=(sandbox, "e1"))
    timer.start()
    try:
        (event,) = asyncio.run(collect(trigger({"e1": sent("e1")})))
    finally:
        timer.join()
    assert event["status"] == "success"
    sensor = MarketingEventsSensor(task_id="wait", external_ids=[], deferrable=True)
    value = sensor.execute_complete({}, event, targets=[["acme", "e1"]], found=[], sampled_from=5, verified=1)
    assert (value["checked"], value["verified"]) == (1, 1)


def test_the_sensor_defers_what_is_missing_or_differs_with_its_sent_values(
    sandbox: SandboxServer, tmp_path: Any
) -> None:
    from airflow.providers.common.compat.sdk import TaskDeferred

    upsert(sandbox, "e1", eventName="Stale")  # readable but not as sent; e2 not readable yet
    results = tmp_path / "results.jsonl"
    lines = [
        {
            "position": 1,
            "externalAccountId": "acme",
            "externalEventId": "e1",
            "objectId": None,
            "sent": sent("e1"),
        },
        {
            "position": 2,
            "externalAccountId": "acme",
            "externalEventId": "e2",
            "objectId": None,
            "sent": sent("e2"),
        },
    ]
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))
    sensor = MarketingEventsSensor(task_id="wait", results_path=str(results), deferrable=True, timeout=60)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["keys"] == [["acme", "e1"], ["acme", "e2"]]
    assert kwargs["sent"] == [["acme", "e1", sent("e1")], ["acme", "e2", sent("e2")]]
    assert (kwargs["sampled"], deferred.value.kwargs["verified"]) == (2, 2)
    assert sandbox.token not in json.dumps(kwargs)


def test_a_resumed_sensor_that_lost_its_kwargs_reads_the_events_found_before_deferring(
    sandbox: SandboxServer,
) -> None:
    upsert(sandbox, "d1")
    upsert(sandbox, "d2")
    sensor = MarketingEventsSensor(
        task_id="wait", external_ids=[["acme", "d1"], ["acme", "d2"]], deferrable=True
    )
    before = sum(1 for r in sandbox.requests() if r.method == "GET")
    # The trigger was given d2 only (d1 was found before deferring); targets and found were lost.
    value = sensor.execute_complete({}, {"status": "success", "found": [["acme", "d2", "x"]]})
    assert [item["externalEventId"] for item in value["found"]] == ["d1", "d2"]
    assert sum(1 for r in sandbox.requests() if r.method == "GET") - before == 1  # d1 read once more
