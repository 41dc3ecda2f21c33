"""Apps own their events (search, read, delete, cancel, complete are scoped to the caller's app),
batch delete answers 202 and ignores other apps' inputs, cancel and complete set the lifecycle flags."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer
from hubspot_events_provider.sandbox.pytest_plugin import SandboxFactory
from tests.sandbox.conftest import Api, event, settle

OTHER_APP = 7654321
OTHER_TOKEN = "other-app-token"


@pytest.fixture
def two_apps(hubspot_sandbox_factory: SandboxFactory) -> SandboxServer:
    """A sandbox where ``OTHER_TOKEN`` belongs to a second app."""
    return hubspot_sandbox_factory(SandboxConfig(app_tokens={OTHER_TOKEN: OTHER_APP}))  # short read lag


def _search(api: Api, q: str, token: str | None = None) -> list[dict[str, Any]]:
    resp = api.call("GET", "/events/search", params={"q": q}, token=token)
    assert resp.status_code == 200
    results = resp.json()["results"]
    assert isinstance(results, list)
    return results


def _lifecycle(
    api: Api, event_id: str, action: str, account: str = "acct", **kwargs: Any
) -> requests.Response:
    return api.call(
        "POST",
        "/events/{externalEventId}/" + action,
        path_params={"externalEventId": event_id},
        params={"externalAccountId": account},
        **kwargs,
    )


def test_same_external_ids_in_two_apps_are_two_events(two_apps: SandboxServer) -> None:
    api = Api(two_apps)
    mine = api.upsert([event("e1", eventName="Mine")]).json()["results"][0]
    theirs = api.upsert([event("e1", eventName="Theirs")], token=OTHER_TOKEN).json()["results"][0]
    assert mine["objectId"] != theirs["objectId"]
    settle(two_apps)
    assert api.read("e1").json()["eventName"] == "Mine"
    assert api.read("e1", token=OTHER_TOKEN).json()["eventName"] == "Theirs"
    assert [r["appId"] for r in _search(api, "e1")] == [two_apps.config.app_id]
    assert [r["appId"] for r in _search(api, "e1", OTHER_TOKEN)] == [OTHER_APP]
    listed = api.call("GET", "").json()["results"]
    assert sorted(r["appInfo"]["id"] for r in listed) == sorted([str(two_apps.config.app_id), str(OTHER_APP)])
    assert [e["eventName"] for e in two_apps.events(app_id=OTHER_APP)] == ["Theirs"]
    theirs_stored = two_apps.get_event("acct", "e1", app_id=OTHER_APP)
    assert theirs_stored is not None
    assert theirs_stored["eventName"] == "Theirs"


def test_an_app_cannot_read_or_find_another_apps_event(two_apps: SandboxServer) -> None:
    api = Api(two_apps)
    api.upsert([event("only-theirs")], token=OTHER_TOKEN)
    settle(two_apps)
    assert api.read("only-theirs").status_code == 404
    assert _search(api, "only-theirs") == []
    assert [r["externalEventId"] for r in _search(api, "only-theirs", OTHER_TOKEN)] == ["only-theirs"]


def test_single_delete_never_touches_another_apps_event(two_apps: SandboxServer) -> None:
    api = Api(two_apps)
    api.upsert([event("e1")], token=OTHER_TOKEN)
    resp = api.call(
        "DELETE",
        "/events/{externalEventId}",
        path_params={"externalEventId": "e1"},
        params={"externalAccountId": "acct"},
    )
    assert resp.status_code == 404
    assert two_apps.get_event("acct", "e1", app_id=OTHER_APP) is not None
    assert two_apps.stats()["deletes"] == 0


def test_batch_delete_answers_202_and_skips_other_apps_silently(two_apps: SandboxServer) -> None:
    api = Api(two_apps)
    me = two_apps.config.app_id
    api.upsert([event("e1"), event("e2")])
    api.upsert([event("e1"), event("e3")], token=OTHER_TOKEN)
    inputs = [
        {"appId": me, "externalAccountId": "acct", "externalEventId": "e1"},
        # The other app's event, named with its own appId: not ours to delete; HubSpot says nothing.
        {"appId": OTHER_APP, "externalAccountId": "acct", "externalEventId": "e3"},
        # Our event named with the wrong appId: skipped silently too.
        {"appId": OTHER_APP, "externalAccountId": "acct", "externalEventId": "e2"},
    ]
    resp = api.call("POST", "/events/delete", json={"inputs": inputs})
    assert resp.status_code == 202
    assert resp.content == b""
    assert [e["externalEventId"] for e in two_apps.events(app_id=me)] == ["e2"]
    assert sorted(e["externalEventId"] for e in two_apps.events(app_id=OTHER_APP)) == ["e1", "e3"]
    assert two_apps.stats()["deletes"] == 1
    assert two_apps.requests()[-1].app == me


def test_batch_delete_status_can_be_204(hubspot_sandbox: SandboxServer) -> None:
    hubspot_sandbox.configure(batch_delete_status=204)
    api = Api(hubspot_sandbox)
    api.upsert([event("e1")])
    app = hubspot_sandbox.config.app_id
    inputs = [{"appId": app, "externalAccountId": "acct", "externalEventId": "e1"}]
    assert api.call("POST", "/events/delete", json={"inputs": inputs}).status_code == 204
    assert hubspot_sandbox.events() == []
    with pytest.raises(ValueError, match="202 or 204"):
        hubspot_sandbox.configure(batch_delete_status=200)


def test_requests_log_the_calling_app(two_apps: SandboxServer) -> None:
    api = Api(two_apps)
    api.read("x", token=OTHER_TOKEN)
    api.read("x")
    assert [r.app for r in two_apps.requests()] == [OTHER_APP, two_apps.config.app_id]


def test_cancel_sets_event_cancelled(api: Api) -> None:
    api.upsert([event("e1")])
    settle(api.sandbox)
    before = api.read("e1").json()
    resp = _lifecycle(api, "e1", "cancel")
    assert resp.status_code == 200
    body = resp.json()
    assert body["eventCancelled"] is True
    assert body["eventName"] == "Event e1"
    settle(api.sandbox)
    assert api.read("e1").json()["eventCancelled"] is True
    assert api.read("e1").json()["updatedAt"] >= before["updatedAt"]
    assert api.sandbox.stats()["cancels"] == 1


def test_complete_sets_completed_and_dates(api: Api) -> None:
    api.upsert([event("e1")])
    resp = _lifecycle(
        api,
        "e1",
        "complete",
        json={"startDateTime": "2026-05-01T09:00:00+02:00", "endDateTime": "2026-05-01T11:30:00Z"},
    )
    assert resp.status_code == 200
    settle(api.sandbox)
    stored = api.read("e1").json()
    assert stored["eventCompleted"] is True
    assert stored["startDateTime"] == "2026-05-01T07:00:00.000Z"
    assert stored["endDateTime"] == "2026-05-01T11:30:00.000Z"
    assert api.sandbox.stats()["completes"] == 1


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (None, "body"),
        ({"startDateTime": "2026-05-01T09:00:00Z"}, "endDateTime"),
        ({"startDateTime": "2026-05-01 09:00", "endDateTime": "2026-05-01T10:00:00Z"}, "startDateTime"),
        ({"startDateTime": "2026-05-01T09:00:00", "endDateTime": "2026-05-01T10:00:00Z"}, "startDateTime"),
    ],
)
def test_complete_needs_both_datetimes(api: Api, body: object, where: str) -> None:
    api.upsert([event("e1")])
    resp = _lifecycle(api, "e1", "complete", json=body)
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["in"] == where
    assert api.read("e1").json().get("eventCompleted") is None


@pytest.mark.parametrize("action", ["cancel", "complete"])
def test_lifecycle_of_unknown_or_foreign_event_is_404(two_apps: SandboxServer, action: str) -> None:
    api = Api(two_apps)
    api.upsert([event("theirs")], token=OTHER_TOKEN)
    body = {"startDateTime": "2026-05-01T09:00:00Z", "endDateTime": "2026-05-01T10:00:00Z"}
    for event_id in ("theirs", "nobody"):
        resp = _lifecycle(api, event_id, action, json=body)
        assert resp.status_code == 404
        assert resp.json()["category"] == "OBJECT_NOT_FOUND"
    stored = two_apps.get_event("acct", "theirs", app_id=OTHER_APP)
    assert stored is not None
    assert stored.get("eventCancelled") is None
    assert stored.get("eventCompleted") is None


@pytest.mark.parametrize("action", ["cancel", "complete"])
def test_lifecycle_needs_account_and_post(api: Api, action: str) -> None:
    api.upsert([event("e1")])
    resp = api.call("POST", "/events/{externalEventId}/" + action, path_params={"externalEventId": "e1"})
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["in"] == "externalAccountId"
    resp = api.session.get(
        api.sandbox.url + "/marketing/marketing-events/2026-03/events/e1/" + action,
        params={"externalAccountId": "acct"},
        headers={"Authorization": f"Bearer {api.sandbox.token}"},
        timeout=10,
    )
    assert resp.status_code == 405
