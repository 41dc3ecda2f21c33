"""MarketingEventsTrigger.run() against the HubSpot sandbox over real HTTP: found, appearing later,
timeout naming the missing keys, auth errors, a serialised form without credentials, and an event
loop that keeps running while HubSpot is slow (the synchronous client runs in a thread)."""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
from typing import Any

import pytest

from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.sandbox import Fault, SandboxServer
from hubspot_events_provider.triggers.marketing_events import MarketingEventsTrigger


def upsert(sandbox: SandboxServer, *eids: str) -> None:
    client = HubSpotClient(ClientConfig(base_url=sandbox.url), StaticTokenAuth(sandbox.token))
    try:
        client.upsert_events(
            [
                {
                    "externalAccountId": "acme",
                    "externalEventId": eid,
                    "eventName": f"Webinar {eid}",
                    "eventOrganizer": "Acme",
                }
                for eid in eids
            ]
        )
    finally:
        client.close()


def object_id(sandbox: SandboxServer, eid: str) -> str:
    stored = sandbox.get_event("acme", eid)
    assert stored is not None
    return str(stored["objectId"])


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT",
        json.dumps({"conn_type": "hubspot", "host": hubspot_sandbox.url, "password": hubspot_sandbox.token}),
    )
    return hubspot_sandbox


def trigger(*eids: str, wait: float = 30.0, interval: float = 0.05) -> MarketingEventsTrigger:
    return MarketingEventsTrigger(
        hubspot_conn_id="hubspot_default",
        keys=[["acme", eid] for eid in eids],
        poke_interval=interval,
        end_at=time.time() + wait,
    )


async def collect(trig: MarketingEventsTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trig.run()]


def test_present_events_fire_success_with_object_ids(sandbox: SandboxServer) -> None:
    upsert(sandbox, "e1", "e2")
    events = asyncio.run(collect(trigger("e1", "e2")))
    assert events == [
        {
            "status": "success",
            "found": [["acme", "e1", object_id(sandbox, "e1")], ["acme", "e2", object_id(sandbox, "e2")]],
        }
    ]


def test_events_appearing_later_are_found(sandbox: SandboxServer) -> None:
    upsert(sandbox, "e1")
    timer = threading.Timer(0.3, upsert, args=(sandbox, "e2"))
    timer.start()
    try:
        events = asyncio.run(collect(trigger("e1", "e2")))
    finally:
        timer.join()
    assert [e["status"] for e in events] == ["success"]
    assert [row[1] for row in events[0]["found"]] == ["e1", "e2"]
    reads_of_e2 = [r for r in sandbox.requests() if r.method == "GET" and r.path.endswith("/events/e2")]
    assert len(reads_of_e2) >= 2, "e2 was read again after it was missing"


def test_deadline_fires_timeout_naming_the_missing_keys(sandbox: SandboxServer) -> None:
    upsert(sandbox, "e1")
    started = time.monotonic()
    events = asyncio.run(collect(trigger("e1", "gone", wait=0.4, interval=0.1)))
    assert time.monotonic() - started < 5
    assert events == [
        {
            "status": "timeout",
            "found": [["acme", "e1", object_id(sandbox, "e1")]],
            "missing": [["acme", "gone"]],
        }
    ]


def test_bad_token_fires_a_fatal_error(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT",
        json.dumps({"conn_type": "hubspot", "host": sandbox.url, "password": "pat-na1-wrong"}),
    )
    (event,) = asyncio.run(collect(trigger("e1")))
    assert event["status"] == "error"
    assert event["fatal"] is True
    assert "401" in event["message"]
    assert "pat-na1-wrong" not in json.dumps(event)


def test_serialised_form_has_ids_only_and_round_trips(sandbox: SandboxServer) -> None:
    original = trigger("e1", "e2")
    classpath, kwargs = original.serialize()
    assert set(kwargs) == {"hubspot_conn_id", "keys", "poke_interval", "end_at", "sent", "sampled"}
    assert kwargs["sent"] == []  # field values only when the sensor verifies fields
    assert sandbox.token not in json.dumps(kwargs)
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.keys == [("acme", "e1"), ("acme", "e2")]


def test_event_loop_keeps_running_while_hubspot_is_slow(sandbox: SandboxServer) -> None:
    upsert(sandbox, "e1")
    sandbox.configure(faults=(Fault("latency", route="read", latency_s=0.5, times=2),))

    async def main() -> tuple[list[dict[str, Any]], int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        events = await collect(trigger("e1"))
        done.set()
        await task
        return events, ticks

    events, ticks = asyncio.run(main())
    assert [e["status"] for e in events] == ["success"]
    # 1 s of HubSpot latency: a blocked loop would tick once or twice, a free one ~100 times.
    assert ticks > 30
