"""Batch upsert: create/update, strict validation, partial-failure modes, whole-request errors."""

from __future__ import annotations

from typing import Any

import pytest

from hubspot_events_provider.sandbox import SandboxServer
from tests.sandbox.conftest import Api, event


def test_upsert_creates_then_updates_with_stable_object_id(api: Api) -> None:
    first = api.upsert([event("e1"), event("e2")])
    assert first.status_code == 200
    body = first.json()
    assert body["status"] == "COMPLETE"
    assert "numErrors" not in body
    assert [r["eventName"] for r in body["results"]] == ["Event e1", "Event e2"]
    object_id = body["results"][0]["objectId"]
    assert body["results"][0]["id"] == object_id
    assert body["results"][0]["customProperties"][0]["name"] == "region"
    assert body["results"][0]["customProperties"][0]["value"] == "emea"
    assert body["results"][0]["startDateTime"] == "2026-05-01T09:00:00.000Z"
    assert body["results"][0]["endDateTime"] == "2026-05-01T08:00:00.000Z"

    second = api.upsert([event("e1", eventName="Renamed", eventCancelled=True)]).json()
    updated = second["results"][0]
    assert updated["objectId"] == object_id
    assert updated["eventName"] == "Renamed"
    assert updated["eventCancelled"] is True
    assert updated["createdAt"] == body["results"][0]["createdAt"]
    assert updated["updatedAt"] >= body["results"][0]["updatedAt"]
    stats = api.sandbox.stats()
    assert (stats["creates"], stats["updates"], stats["applied_upserts"]) == (2, 1, 3)
    stored = api.sandbox.get_event("acct", "e1")
    assert stored is not None
    assert stored["eventName"] == "Renamed"
    assert stored["externalEventId"] == "e1"


def test_upsert_minimal_input_without_custom_properties(api: Api) -> None:
    minimal = {"externalAccountId": "a", "externalEventId": "m", "eventName": "n", "eventOrganizer": "o"}
    resp = api.upsert([minimal])
    assert resp.status_code == 200
    assert resp.json()["results"][0]["customProperties"] == []


BAD_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("missing name", {"eventName": None}, "eventName"),
    ("empty organizer", {"eventOrganizer": ""}, "eventOrganizer"),
    ("numeric account", {"externalAccountId": 12}, "externalAccountId"),
    ("date without offset", {"startDateTime": "2026-05-01T09:00:00"}, "startDateTime"),
    ("date only", {"endDateTime": "2026-05-01"}, "endDateTime"),
    ("epoch millis", {"startDateTime": 1777626000000}, "startDateTime"),
    ("impossible date", {"startDateTime": "2026-02-30T09:00:00Z"}, "startDateTime"),
    ("string boolean", {"eventCancelled": "true"}, "eventCancelled"),
    ("numeric url", {"eventUrl": 5}, "eventUrl"),
    ("unknown field", {"venue": "Berlin"}, "venue"),
    ("property not a list", {"customProperties": {"region": "x"}}, "customProperties"),
    ("property value not string", {"customProperties": [{"name": "n", "value": 3}]}, "customProperties[0]"),
    (
        "property extra key",
        {"customProperties": [{"name": "n", "value": "v", "x": 1}]},
        "customProperties[0]",
    ),
]


def _bad(fields: dict[str, Any]) -> dict[str, Any]:
    row = event("bad", **{k: v for k, v in fields.items() if v is not None})
    for name in [k for k, v in fields.items() if v is None]:
        del row[name]
    return row


@pytest.mark.parametrize(
    ("fields", "where"), [(f, w) for _, f, w in BAD_ROWS], ids=[i for i, _, _ in BAD_ROWS]
)
def test_invalid_row_reported_in_mode_200(api: Api, fields: dict[str, Any], where: str) -> None:
    api.sandbox.configure(row_error_shape="full")
    resp = api.upsert([event("ok1"), _bad(fields), event("ok2")])
    assert resp.status_code == 200
    body = resp.json()
    assert body["numErrors"] == 1
    assert [r["eventName"] for r in body["results"]] == ["Event ok1", "Event ok2"]
    (error,) = body["errors"]
    assert error["category"] == "VALIDATION_ERROR"
    assert error["context"]["inputIndex"] == ["1"]
    assert error["context"]["externalEventId"] == ["bad"]
    assert [d["in"] for d in error["errors"]] == [where]
    assert api.sandbox.get_event("acct", "bad") is None
    assert api.sandbox.stats()["rejected_rows"] == 1


def test_mode_207_same_body_with_multi_status(hubspot_sandbox: SandboxServer) -> None:
    hubspot_sandbox.configure(partial_mode="207", row_error_shape="full")
    resp = Api(hubspot_sandbox).upsert([event("ok"), event("bad", eventCompleted="no")])
    assert resp.status_code == 207
    body = resp.json()
    assert body["numErrors"] == 1
    assert body["errors"][0]["context"] == {
        "externalAccountId": ["acct"],
        "externalEventId": ["bad"],
        "inputIndex": ["1"],
    }
    assert hubspot_sandbox.get_event("acct", "ok") is not None


def test_mode_400_refuses_whole_batch_without_naming_the_row(hubspot_sandbox: SandboxServer) -> None:
    hubspot_sandbox.configure(partial_mode="400")
    resp = Api(hubspot_sandbox).upsert([event("ok"), event("secret-row-id", startDateTime="tomorrow")])
    assert resp.status_code == 400
    body = resp.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert "secret-row-id" not in resp.text
    assert "inputIndex" not in resp.text
    assert [d["in"] for d in body["errors"]] == ["startDateTime"]
    assert hubspot_sandbox.events() == []
    assert hubspot_sandbox.stats()["applied_upserts"] == 0


def test_rejected_external_event_ids_refused_though_valid(hubspot_sandbox: SandboxServer) -> None:
    hubspot_sandbox.configure(reject_external_event_ids=("nope",), row_error_shape="event_id")
    body = Api(hubspot_sandbox).upsert([event("nope"), event("yes")]).json()
    assert body["numErrors"] == 1
    assert body["errors"][0]["context"] == {"externalEventId": ["nope"]}
    assert body["errors"][0]["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["message"] == "HubSpot refused this marketing event."
    assert [e["externalEventId"] for e in hubspot_sandbox.events()] == ["yes"]


# What a per-row error says about its row, per shape: (context, message names the event id).
SHAPES: dict[str, tuple[dict[str, list[str]], bool]] = {
    "full": ({"externalAccountId": ["acct"], "externalEventId": ["bad-7"], "inputIndex": ["1"]}, False),
    "event_id": ({"externalEventId": ["bad-7"]}, False),
    "message": ({}, True),
}


@pytest.mark.parametrize("mode", ["200", "207"])
@pytest.mark.parametrize("shape", ["full", "event_id", "message", "count"])
def test_row_error_shapes_in_partial_answers(hubspot_sandbox: SandboxServer, mode: str, shape: str) -> None:
    hubspot_sandbox.configure(partial_mode=mode, row_error_shape=shape)
    resp = Api(hubspot_sandbox).upsert([event("ok"), event("bad-7", startDateTime="tomorrow")])
    assert resp.status_code == int(mode)
    body = resp.json()
    assert body["numErrors"] == 1
    assert [r["eventName"] for r in body["results"]] == ["Event ok"]
    assert [e["externalEventId"] for e in hubspot_sandbox.events()] == ["ok"]
    if shape == "count":  # nothing but the count: the least helpful, and the default
        assert "errors" not in body
        assert "bad-7" not in resp.text
        return
    context, named_in_message = SHAPES[shape]
    (error,) = body["errors"]
    assert error["context"] == context
    assert ("'bad-7'" in error["message"]) is named_in_message
    assert "startDateTime" in error["message"]
    assert [d["in"] for d in error["errors"]] == ["startDateTime"]


@pytest.mark.parametrize("shape", ["full", "event_id", "message", "count"])
def test_row_error_shapes_in_a_whole_batch_400(hubspot_sandbox: SandboxServer, shape: str) -> None:
    hubspot_sandbox.configure(partial_mode="400", row_error_shape=shape)
    resp = Api(hubspot_sandbox).upsert([event("ok"), event("bad-7", startDateTime="tomorrow")])
    assert resp.status_code == 400
    body = resp.json()
    assert hubspot_sandbox.events() == []
    if shape == "count":
        assert "bad-7" not in resp.text
        assert "inputIndex" not in resp.text
        assert body["errors"] == [
            {"message": "Invalid value in field 'startDateTime' (INVALID_DATE).", "in": "startDateTime"}
        ]
        return
    context, named_in_message = SHAPES[shape]
    (detail,) = body["errors"]
    assert detail.get("context", {}) == context
    assert ("'bad-7'" in detail["message"]) is named_in_message
    assert (detail["in"], detail["code"]) == ("startDateTime", "INVALID_DATE")


def test_default_error_shape_is_nothing_but_a_count(hubspot_sandbox: SandboxServer) -> None:
    assert hubspot_sandbox.state.config.row_error_shape == "count"
    body = Api(hubspot_sandbox).upsert([event("bad", eventName=None)]).json()
    assert body == {**body, "numErrors": 1, "results": []}
    assert "errors" not in body


def test_undefined_custom_properties_are_dropped_silently(hubspot_sandbox: SandboxServer) -> None:
    props = [
        {"name": "region", "value": "emea"},
        {"name": "regoin", "value": "apac"},
        {"name": "capacity", "value": "80"},
    ]
    resp = Api(hubspot_sandbox).upsert([event("p", customProperties=props)])
    assert resp.status_code == 200
    body = resp.json()
    assert "numErrors" not in body  # HubSpot says nothing: "filtered out and not set"
    assert [(p["name"], p["value"]) for p in body["results"][0]["customProperties"]] == [
        ("capacity", "80"),
        ("region", "emea"),
    ]
    stored = hubspot_sandbox.get_event("acct", "p")
    assert stored is not None
    assert {p["name"] for p in stored["customProperties"]} == {"capacity", "region"}
    assert hubspot_sandbox.stats()["dropped_custom_properties"] == 1
    # The account's definitions are configurable; the default set is what the examples send.
    hubspot_sandbox.configure(custom_properties=("regoin",))
    Api(hubspot_sandbox).upsert([event("q", customProperties=props)])
    stored = hubspot_sandbox.get_event("acct", "q")
    assert stored is not None
    assert [(p["name"], p["value"]) for p in stored["customProperties"]] == [("regoin", "apac")]


def test_duplicate_ids_in_one_batch_last_wins(api: Api) -> None:
    body = api.upsert([event("d", eventName="first"), event("d", eventName="second")]).json()
    assert body["results"][0]["objectId"] == body["results"][1]["objectId"]
    stored = api.sandbox.get_event("acct", "d")
    assert stored is not None
    assert stored["eventName"] == "second"


WHOLE_REQUEST: list[tuple[str, dict[str, Any], str]] = [
    ("not json", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}, "body"),
    ("not utf-8", {"data": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}, "body"),
    ("array body", {"json": [event()]}, "body"),
    ("missing inputs", {"json": {"events": [event()]}}, "inputs"),
    ("inputs not a list", {"json": {"inputs": event()}}, "inputs"),
    ("empty inputs", {"json": {"inputs": []}}, "inputs"),
    ("101 inputs", {"json": {"inputs": [event(f"e{i}") for i in range(101)]}}, "inputs"),
]


@pytest.mark.parametrize(
    ("kwargs", "where"), [(k, w) for _, k, w in WHOLE_REQUEST], ids=[i for i, _, _ in WHOLE_REQUEST]
)
def test_whole_request_problems_are_400_validation_error(
    api: Api, kwargs: dict[str, Any], where: str
) -> None:
    resp = api.call("POST", "/events/upsert", **kwargs)
    assert resp.status_code == 400
    body = resp.json()
    assert body["status"] == "error"
    assert body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["in"] == where
    assert len(body["correlationId"]) == 36
    assert api.sandbox.events() == []


def test_exactly_100_inputs_accepted(api: Api) -> None:
    resp = api.upsert([event(f"e{i}") for i in range(100)])
    assert resp.status_code == 200
    assert len(resp.json()["results"]) == 100


def test_concurrent_upserts_are_all_applied_once(hubspot_sandbox: SandboxServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def send(worker: int) -> list[str]:
        api = Api(hubspot_sandbox)
        ids = []
        for batch in range(5):
            body = api.upsert([event(f"w{worker}-b{batch}-{i}") for i in range(4)]).json()
            ids.extend(r["objectId"] for r in body["results"])
        return ids

    with ThreadPoolExecutor(max_workers=6) as pool:
        object_ids = [oid for ids in pool.map(send, range(6)) for oid in ids]
    assert len(object_ids) == len(set(object_ids)) == 120
    stats = hubspot_sandbox.stats()
    assert (stats["creates"], stats["upsert_requests"], stats["events"]) == (120, 30, 120)


def test_configured_latency_still_answers(hubspot_sandbox: SandboxServer) -> None:
    hubspot_sandbox.configure(latency_s=(0.01, 0.02))
    assert Api(hubspot_sandbox).upsert([event()]).status_code == 200
