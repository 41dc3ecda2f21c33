"""Edits and deletes "by hand" (a HubSpot user in HubSpot's UI): Python API and ``/_sandbox`` routes.

A hand edit keeps the objectId, moves ``updatedAt``, is no request of the app (not rate-counted,
not logged) and reaches API reads after ``read_lag_s`` like any write.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from hubspot_events_provider.sandbox import SandboxServer
from hubspot_events_provider.sandbox.pytest_plugin import SandboxFactory
from tests.sandbox.conftest import Api, event, settle

OTHER_APP = 7654321
OTHER_TOKEN = "other-app-token"


def _prop(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((p for p in body["customProperties"] if p["name"] == name), None)


def _sandbox_post(sandbox: SandboxServer, route: str, body: Any) -> requests.Response:
    return requests.post(f"{sandbox.url}/_sandbox/events/{route}", json=body, timeout=10)


def test_edit_keeps_the_object_id_moves_updated_at_and_reads_see_it_late(api: Api) -> None:
    created = api.upsert([event("e1", eventDescription="From the warehouse")]).json()["results"][0]
    settle(api.sandbox)
    edited = api.sandbox.edit_event_by_hand(
        "acct",
        "e1",
        eventName="Renamed in HubSpot",
        startDateTime="2026-05-01T12:00:00+02:00",
        eventDescription=None,
        custom_properties={"region": "apac", "city": "Lyon"},
    )
    assert edited["objectId"] == created["objectId"]
    assert edited["updatedAt"] > created["updatedAt"]
    assert edited["startDateTime"] == "2026-05-01T10:00:00.000Z"
    assert "eventDescription" not in edited
    assert api.read("e1").json()["eventName"] == "Event e1"  # API reads lag
    settle(api.sandbox)
    body = api.read("e1").json()
    assert (body["objectId"], body["eventName"], body["updatedAt"]) == (
        created["objectId"],
        "Renamed in HubSpot",
        edited["updatedAt"],
    )
    assert "eventDescription" not in body
    region = _prop(body, "region")
    assert region is not None
    assert (region["value"], region["source"]) == ("apac", "CRM_UI")
    assert _prop(body, "city")["value"] == "Lyon"  # type: ignore[index]


def test_edit_can_clear_a_custom_property_and_the_app_overwrites_it_again(api: Api) -> None:
    api.upsert([event("e1")])
    api.sandbox.edit_event_by_hand("acct", "e1", custom_properties={"region": None})
    assert api.sandbox.get_event("acct", "e1")["customProperties"] == []  # type: ignore[index]
    api.upsert([event("e1")])  # the app writes its value back: the source is the app's again
    settle(api.sandbox)
    assert _prop(api.read("e1").json(), "region")["source"] == "INTEGRATION"  # type: ignore[index]


def test_hand_edits_are_no_app_requests(hubspot_sandbox_factory: SandboxFactory) -> None:
    sandbox = hubspot_sandbox_factory(rate_limit=2, rate_window_s=30.0)
    api = Api(sandbox)
    assert api.upsert([event("e1"), event("e2")]).status_code == 200
    for name in ("One", "Two", "Three"):
        sandbox.edit_event_by_hand("acct", "e1", eventName=name)
    assert (
        _sandbox_post(sandbox, "edit", {"externalAccountId": "acct", "externalEventId": "e1"}).status_code
        == 200
    )
    sandbox.delete_event_by_hand("acct", "e2")
    assert (
        _sandbox_post(sandbox, "delete", {"externalAccountId": "acct", "externalEventId": "e1"}).status_code
        == 204
    )
    assert len(sandbox.requests()) == 1
    requests_seen = requests.get(sandbox.url + "/_sandbox/requests", timeout=10).json()["results"]
    assert [r["path"] for r in requests_seen] == [r.path for r in sandbox.requests()]
    assert api.upsert([event("e3")]).status_code == 200  # the second of two allowed: edits took none
    assert api.upsert([event("e4")]).status_code == 429
    stats = sandbox.stats()
    assert (stats["hand_edits"], stats["hand_deletes"], stats["deletes"], stats["updates"]) == (4, 2, 0, 0)


def test_refused_edits_change_nothing(api: Api) -> None:
    api.upsert([event("e1")])
    before = api.sandbox.get_event("acct", "e1")
    with pytest.raises(ValueError, match="externalEventId"):
        api.sandbox.edit_event_by_hand("acct", "e1", externalEventId="e9")
    with pytest.raises(ValueError, match="no custom property"):
        api.sandbox.edit_event_by_hand("acct", "e1", eventName="X", custom_properties={"budget": "1"})
    with pytest.raises(ValueError, match="startDateTime"):
        api.sandbox.edit_event_by_hand("acct", "e1", startDateTime="2026-05-01 10:00")
    with pytest.raises(ValueError, match="eventName"):
        api.sandbox.edit_event_by_hand("acct", "e1", eventName=None)
    with pytest.raises(ValueError, match="eventCancelled"):
        api.sandbox.edit_event_by_hand("acct", "e1", eventCancelled="yes")
    with pytest.raises(LookupError):
        api.sandbox.edit_event_by_hand("other-account", "e1", eventName="X")
    assert api.sandbox.get_event("acct", "e1") == before
    assert api.sandbox.stats()["hand_edits"] == 0


def test_delete_by_hand_reaches_reads_late_and_the_app_creates_anew(api: Api) -> None:
    first = api.upsert([event("e1")]).json()["results"][0]
    settle(api.sandbox)
    api.sandbox.delete_event_by_hand("acct", "e1")
    assert api.sandbox.get_event("acct", "e1") is None
    assert api.read("e1").status_code == 200  # reads lag
    settle(api.sandbox)
    assert api.read("e1").status_code == 404
    with pytest.raises(LookupError):
        api.sandbox.delete_event_by_hand("acct", "e1")
    again = api.upsert([event("e1")]).json()["results"][0]
    assert again["objectId"] != first["objectId"]


def test_http_edit_and_delete_routes(hubspot_sandbox_factory: SandboxFactory) -> None:
    sandbox = hubspot_sandbox_factory(app_tokens={OTHER_TOKEN: OTHER_APP})
    api = Api(sandbox)
    api.upsert([event("e1")], token=OTHER_TOKEN)
    ids = {"externalAccountId": "acct", "externalEventId": "e1"}
    edit = {**ids, "appId": OTHER_APP, "eventName": "By hand", "customProperties": {"topic": "ai"}}
    resp = _sandbox_post(sandbox, "edit", edit)
    assert resp.status_code == 200
    assert (resp.json()["eventName"], _prop(resp.json(), "topic")["source"]) == ("By hand", "CRM_UI")  # type: ignore[index]
    stored = requests.get(sandbox.url + "/_sandbox/events", timeout=10).json()["results"]
    assert [e["eventName"] for e in stored] == ["By hand"]
    assert (
        _sandbox_post(sandbox, "edit", {**ids, "eventName": "X"}).status_code == 404
    )  # default app has none
    for bad in (
        {**edit, "externalEventId": 5},
        {**edit, "eventUrl": 3},
        {**edit, "customProperties": ["topic"]},
    ):
        refused = _sandbox_post(sandbox, "edit", bad)
        assert refused.status_code == 400
        assert refused.json()["category"] == "VALIDATION_ERROR"
    assert _sandbox_post(sandbox, "delete", {**ids, "appId": OTHER_APP, "eventName": "x"}).status_code == 400
    gone = _sandbox_post(sandbox, "delete", {**ids, "appId": OTHER_APP})
    assert gone.status_code == 204
    assert sandbox.events() == []
    assert _sandbox_post(sandbox, "delete", {**ids, "appId": OTHER_APP}).status_code == 404
    settle(sandbox)
    assert api.read("e1", token=OTHER_TOKEN).status_code == 404
