"""HubSpot's read lag for events (``read_lag_s``), over real HTTP on loopback.

API reads (list, read by external ids, search, the participation reads' event look-up) see events as
they were ``read_lag_s`` ago; writes and their answers, and the introspection helpers, see the present.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer
from hubspot_events_provider.sandbox.cli import build_parser, config_from_args
from hubspot_events_provider.sandbox.config import DEFAULT_READ_LAG_S
from hubspot_events_provider.sandbox.pytest_plugin import TEST_READ_LAG_S, SandboxFactory
from tests.sandbox.conftest import Api, event, settle

LAG = 0.4


@pytest.fixture
def lagged(hubspot_sandbox_factory: SandboxFactory) -> Api:
    """An API on a sandbox whose reads lag ``LAG`` seconds (long enough to read inside it)."""
    return Api(hubspot_sandbox_factory(read_lag_s=LAG))


def _listed(api: Api) -> list[str]:
    resp = api.call("GET", "", params={"limit": "100"})
    assert resp.status_code == 200
    return [r["externalEventId"] for r in resp.json()["results"]]


def _searched(api: Api, q: str) -> list[str]:
    resp = api.call("GET", "/events/search", params={"q": q})
    assert resp.status_code == 200
    return [r["objectId"] for r in resp.json()["results"]]


def _participations(api: Api, template: str, **path: str) -> requests.Response:
    return api.call("GET", template, path_params=path)


def test_default_is_minutes_and_fixtures_are_short(hubspot_sandbox: SandboxServer) -> None:
    assert SandboxConfig().read_lag_s == DEFAULT_READ_LAG_S >= 60  # "a few minutes"
    assert hubspot_sandbox.config.read_lag_s == TEST_READ_LAG_S
    assert config_from_args(build_parser().parse_args([])).read_lag_s == DEFAULT_READ_LAG_S
    assert config_from_args(build_parser().parse_args(["--read-lag", "0"])).read_lag_s == 0
    with pytest.raises(ValueError, match="read_lag_s"):
        SandboxConfig(read_lag_s=-1)


def test_default_sandbox_hides_a_new_event_from_reads(hubspot_sandbox_factory: SandboxFactory) -> None:
    api = Api(hubspot_sandbox_factory(read_lag_s=DEFAULT_READ_LAG_S))
    assert api.upsert([event("e1")]).status_code == 200
    assert api.read("e1").status_code == 404
    assert _listed(api) == []
    assert _searched(api, "e1") == []


def test_a_created_event_is_absent_until_the_lag_passes(lagged: Api) -> None:
    created = lagged.upsert([event("e1")])
    assert created.status_code == 200
    object_id = created.json()["results"][0]["objectId"]  # the upsert answers at once
    missing = lagged.read("e1")
    assert missing.status_code == 404
    assert missing.json()["category"] == "OBJECT_NOT_FOUND"
    assert _listed(lagged) == []
    assert _searched(lagged, "e1") == []
    # Introspection shows the truth at once, in Python and over HTTP.
    assert [e["objectId"] for e in lagged.sandbox.events()] == [object_id]
    stored = requests.get(lagged.sandbox.url + "/_sandbox/events", timeout=10).json()["results"]
    assert [e["objectId"] for e in stored] == [object_id]
    time.sleep(LAG + 0.05)
    assert lagged.read("e1").json()["objectId"] == object_id
    assert _listed(lagged) == ["e1"]
    assert _searched(lagged, "e1") == [object_id]


def test_an_update_shows_the_previous_version_until_the_lag_passes(lagged: Api) -> None:
    lagged.upsert([event("e1", eventName="First")])
    settle(lagged.sandbox)
    answer = lagged.upsert([event("e1", eventName="Second")]).json()["results"][0]
    assert answer["eventName"] == "Second"  # the answer holds the stored object
    assert lagged.read("e1").json()["eventName"] == "First"
    listed = lagged.call("GET", "").json()["results"]
    assert [r["eventName"] for r in listed] == ["First"]
    assert lagged.sandbox.get_event("acct", "e1")["eventName"] == "Second"  # type: ignore[index]
    time.sleep(LAG + 0.05)
    assert lagged.read("e1").json()["eventName"] == "Second"


def test_a_cancel_and_a_delete_reach_reads_late(lagged: Api) -> None:
    lagged.upsert([event("e1"), event("e2")])
    settle(lagged.sandbox)
    cancel = lagged.call(
        "POST",
        "/events/{externalEventId}/cancel",
        path_params={"externalEventId": "e1"},
        params={"externalAccountId": "acct"},
    )
    assert cancel.json()["eventCancelled"] is True
    gone = lagged.call(
        "DELETE",
        "/events/{externalEventId}",
        path_params={"externalEventId": "e2"},
        params={"externalAccountId": "acct"},
    )
    assert gone.status_code == 204
    assert "eventCancelled" not in lagged.read("e1").json()
    assert lagged.read("e2").status_code == 200
    assert _listed(lagged) == ["e1", "e2"]
    time.sleep(LAG + 0.05)
    assert lagged.read("e1").json()["eventCancelled"] is True
    assert lagged.read("e2").status_code == 404
    assert _listed(lagged) == ["e1"]


def test_writes_find_a_fresh_event_at_once(lagged: Api) -> None:
    first = lagged.upsert([event("e1")]).json()["results"][0]
    again = lagged.upsert([event("e1", eventName="Again")]).json()["results"][0]
    assert again["objectId"] == first["objectId"]  # updated, not duplicated
    assert (lagged.sandbox.stats()["creates"], lagged.sandbox.stats()["updates"]) == (1, 1)
    lagged.upsert([event("e2")])
    inputs: list[dict[str, Any]] = [{"vid": 151, "interactionDateTime": 1_777_000_000_000, "properties": {}}]
    by_ids = lagged.call(
        "POST",
        "/attendance/{externalEventId}/{subscriberState}/create",
        path_params={"externalEventId": "e1", "subscriberState": "register"},
        params={"externalAccountId": "acct"},
        json={"inputs": inputs},
    )
    assert by_ids.status_code == 200
    assert by_ids.json()["results"] == [{"vid": 151}]
    object_id = lagged.sandbox.get_event("acct", "e2")["objectId"]  # type: ignore[index]
    by_object = lagged.call(
        "POST",
        "/{objectId}/attendance/{subscriberState}/create",
        path_params={"objectId": object_id, "subscriberState": "register"},
        json={"inputs": inputs},
    )
    assert by_object.status_code == 200
    completed = lagged.call(
        "POST",
        "/events/{externalEventId}/complete",
        path_params={"externalEventId": "e2"},
        params={"externalAccountId": "acct"},
        json={"startDateTime": "2026-05-01T09:00:00Z", "endDateTime": "2026-05-01T10:00:00Z"},
    )
    assert completed.status_code == 200
    assert len(lagged.sandbox.participations()) == 2


def test_participation_reads_find_their_event_late(lagged: Api) -> None:
    object_id = lagged.upsert([event("e1")]).json()["results"][0]["objectId"]
    by_ids = "/participations/{externalAccountId}/{externalEventId}"
    by_object = "/participations/{marketingEventId}"
    assert _participations(lagged, by_ids, externalAccountId="acct", externalEventId="e1").status_code == 404
    assert (
        _participations(
            lagged, by_ids + "/breakdown", externalAccountId="acct", externalEventId="e1"
        ).status_code
        == 404
    )
    assert _participations(lagged, by_object, marketingEventId=object_id).status_code == 404
    assert _participations(lagged, by_object + "/breakdown", marketingEventId=object_id).status_code == 404
    time.sleep(LAG + 0.05)
    assert _participations(lagged, by_ids, externalAccountId="acct", externalEventId="e1").status_code == 200
    assert _participations(lagged, by_object, marketingEventId=object_id).status_code == 200


def test_the_lag_changes_at_runtime_in_python_and_over_http(lagged: Api) -> None:
    lagged.sandbox.configure(read_lag_s=0)
    lagged.upsert([event("e1")])
    assert lagged.read("e1").status_code == 200
    url = lagged.sandbox.url + "/_sandbox/config"
    resp = requests.post(url, json={"read_lag_s": 5}, timeout=10)
    assert resp.status_code == 200
    assert resp.json()["read_lag_s"] == 5
    lagged.upsert([event("e2")])
    assert lagged.read("e2").status_code == 404
    bad = requests.post(url, json={"read_lag_s": -1}, timeout=10)
    assert bad.status_code == 400
    assert lagged.sandbox.config.read_lag_s == 5


def test_reset_forgets_what_lagged_reads_still_showed(lagged: Api) -> None:
    lagged.upsert([event("e1")])
    settle(lagged.sandbox)
    lagged.sandbox.reset()
    assert lagged.read("e1").status_code == 404
    assert _listed(lagged) == []
