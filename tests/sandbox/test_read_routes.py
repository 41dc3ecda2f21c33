"""Read by external ids, list with paging, search, single and batch delete, on every API prefix."""

from __future__ import annotations

import pytest
import requests

from hubspot_events_provider.sandbox import SandboxServer
from tests.sandbox.conftest import Api, event, settle

VERSIONS = ["2026-03", "2026-09", "v3"]


@pytest.mark.parametrize("version", VERSIONS)
def test_read_after_upsert_on_every_prefix(hubspot_sandbox: SandboxServer, version: str) -> None:
    api = Api(hubspot_sandbox, version)
    created = api.upsert([event("e/1 ü", eventType="WEBINAR")]).json()["results"][0]
    settle(hubspot_sandbox)
    resp = api.read("e/1 ü")
    assert resp.status_code == 200
    body = resp.json()
    assert body["externalEventId"] == "e/1 ü"
    assert body["externalAccountId"] == "acct"
    assert body["objectId"] == created["objectId"]
    assert body["eventType"] == "WEBINAR"
    assert (body["registrants"], body["attendees"], body["cancellations"], body["noShows"]) == (0, 0, 0, 0)


def test_read_unknown_event_is_404(api: Api) -> None:
    api.upsert([event("e1")])
    settle(api.sandbox)
    resp = api.read("e1", account="other-account")
    assert resp.status_code == 404
    assert resp.json()["category"] == "OBJECT_NOT_FOUND"


def test_read_without_account_is_400(api: Api) -> None:
    resp = api.call("GET", "/events/{externalEventId}", path_params={"externalEventId": "e1"})
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["in"] == "externalAccountId"


def test_list_pages_forward_with_after_cursor(api: Api) -> None:
    api.upsert([event(f"e{i:02d}") for i in range(25)])
    settle(api.sandbox)
    first = api.call("GET", "")
    assert len(first.json()["results"]) == 10
    seen: list[str] = []
    after: str | None = None
    while True:
        params = {"limit": "7"} | ({"after": after} if after else {})
        body = api.call("GET", "", params=params).json()
        seen.extend(r["externalEventId"] for r in body["results"])
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
    assert seen == [f"e{i:02d}" for i in range(25)]
    assert body["results"][0]["appInfo"]["id"] == str(api.sandbox.config.app_id)
    assert body["results"][0]["customProperties"] == [{"name": "region", "value": "emea"}]


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_list_bad_limit_is_400(api: Api, limit: str) -> None:
    resp = api.call("GET", "", params={"limit": limit})
    assert resp.status_code == 400
    assert resp.json()["category"] == "VALIDATION_ERROR"


def test_v3_list_also_served_at_spec_path(hubspot_sandbox: SandboxServer) -> None:
    Api(hubspot_sandbox).upsert([event("e1")])
    settle(hubspot_sandbox)
    resp = requests.get(
        hubspot_sandbox.url + "/marketing/marketing-events/v3",
        headers={"Authorization": f"Bearer {hubspot_sandbox.token}"},
        timeout=10,
    )
    assert resp.status_code == 200
    assert [r["externalEventId"] for r in resp.json()["results"]] == ["e1"]


def test_search_by_external_event_id(api: Api) -> None:
    api.upsert([event("e1", account="a1"), event("e1", account="a2"), event("e2")])
    settle(api.sandbox)
    body = api.call("GET", "/events/search", params={"q": "e1"}).json()
    assert sorted(r["externalAccountId"] for r in body["results"]) == ["a1", "a2"]
    assert all(r["appId"] == api.sandbox.config.app_id for r in body["results"])
    assert api.call("GET", "/events/search", params={"q": "zzz"}).json() == {"results": []}
    assert api.call("GET", "/events/search").status_code == 400


def test_delete_single_event(api: Api) -> None:
    api.upsert([event("e1"), event("e2")])
    params = {"externalAccountId": "acct"}
    resp = api.call(
        "DELETE", "/events/{externalEventId}", path_params={"externalEventId": "e1"}, params=params
    )
    assert resp.status_code == 204
    assert resp.content == b""
    settle(api.sandbox)
    assert api.read("e1").status_code == 404
    again = api.call(
        "DELETE", "/events/{externalEventId}", path_params={"externalEventId": "e1"}, params=params
    )
    assert again.status_code == 404
    assert [e["externalEventId"] for e in api.sandbox.events()] == ["e2"]


def test_batch_delete(api: Api) -> None:
    api.upsert([event("e1"), event("e2"), event("e3")])
    app = api.sandbox.config.app_id
    inputs = [
        {"appId": app, "externalAccountId": "acct", "externalEventId": "e1"},
        {"appId": app, "externalAccountId": "acct", "externalEventId": "e3"},
        {"appId": app, "externalAccountId": "acct", "externalEventId": "unknown"},
    ]
    resp = api.call("POST", "/events/delete", json={"inputs": inputs})
    # HubSpot's live answer (its spec declares no success status), with no body.
    assert resp.status_code == 202
    assert resp.content == b""
    assert [e["externalEventId"] for e in api.sandbox.events()] == ["e2"]
    assert api.sandbox.stats()["deletes"] == 2


def test_batch_delete_bad_input_is_400(api: Api) -> None:
    api.upsert([event("e1")])
    resp = api.call(
        "POST", "/events/delete", json={"inputs": [{"externalAccountId": "acct", "externalEventId": "e1"}]}
    )
    assert resp.status_code == 400
    assert resp.json()["category"] == "VALIDATION_ERROR"
    assert len(api.sandbox.events()) == 1


def test_unknown_route_is_404_and_wrong_method_405(hubspot_sandbox: SandboxServer) -> None:
    headers = {"Authorization": f"Bearer {hubspot_sandbox.token}"}
    base = hubspot_sandbox.url + "/marketing/marketing-events/2026-03"
    assert requests.get(base + "/nothing/here/at/all", headers=headers, timeout=10).status_code == 404
    assert (
        requests.get(hubspot_sandbox.url + "/crm/v3/objects", headers=headers, timeout=10).status_code == 404
    )
    resp = requests.get(base + "/events/upsert", headers=headers, timeout=10)
    assert resp.status_code == 405
    assert resp.json()["category"] == "METHOD_NOT_ALLOWED"
