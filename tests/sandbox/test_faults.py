"""Injected faults: 5xx before/after, dropped connections, truncated bodies, latency, foreign 429."""

from __future__ import annotations

import pytest
import requests

from hubspot_events_provider.sandbox import Fault, SandboxServer
from tests.sandbox.conftest import Api, event


@pytest.mark.parametrize(("kind", "applied"), [("5xx_before", False), ("5xx_after", True)])
@pytest.mark.parametrize("status", [500, 503])
def test_5xx_fault(hubspot_sandbox: SandboxServer, kind: str, applied: bool, status: int) -> None:
    hubspot_sandbox.add_fault(Fault(kind=kind, times=1, route="upsert", status=status))  # type: ignore[arg-type]
    api = Api(hubspot_sandbox)
    resp = api.upsert([event("e1")])
    assert resp.status_code == status
    assert resp.json()["category"] == "INTERNAL_ERROR"
    assert (hubspot_sandbox.get_event("acct", "e1") is not None) is applied
    assert api.upsert([event("e1")]).status_code == 200
    log = hubspot_sandbox.requests()
    assert [(r.status, r.fault) for r in log] == [(status, kind), (200, None)]
    assert log[0].inputs is not None
    assert log[0].inputs[0]["externalEventId"] == "e1"


@pytest.mark.parametrize(("kind", "applied"), [("drop_before", False), ("drop_after", True)])
def test_drop_closes_connection_without_answer(
    hubspot_sandbox: SandboxServer, kind: str, applied: bool
) -> None:
    hubspot_sandbox.add_fault(Fault(kind=kind, times=1, route="upsert"))  # type: ignore[arg-type]
    api = Api(hubspot_sandbox)
    with pytest.raises(requests.ConnectionError):
        api.upsert([event("e1")])
    assert (hubspot_sandbox.get_event("acct", "e1") is not None) is applied
    assert hubspot_sandbox.requests()[0].status is None
    assert hubspot_sandbox.requests()[0].fault == kind
    assert api.upsert([event("e2")]).status_code == 200


def test_truncate_applies_then_cuts_the_body(hubspot_sandbox: SandboxServer) -> None:
    hubspot_sandbox.add_fault(Fault(kind="truncate", times=1))
    with pytest.raises(requests.RequestException) as info:
        Api(hubspot_sandbox).upsert([event("e1")])
    assert isinstance(info.value, requests.ConnectionError | requests.exceptions.ChunkedEncodingError)
    assert hubspot_sandbox.get_event("acct", "e1") is not None
    assert hubspot_sandbox.requests()[0].fault == "truncate"


def test_latency_fault_then_normal_answer(hubspot_sandbox: SandboxServer) -> None:
    hubspot_sandbox.add_fault(Fault(kind="latency", latency_s=0.05, times=1))
    assert Api(hubspot_sandbox).upsert([event()]).status_code == 200
    assert hubspot_sandbox.requests()[0].fault == "latency"


def test_429_fault_as_if_another_app_spent_the_budget(hubspot_sandbox: SandboxServer) -> None:
    hubspot_sandbox.add_fault(Fault(kind="429", times=2, route="read"))
    api = Api(hubspot_sandbox)
    assert api.upsert([event()]).status_code == 200
    answers = [api.read("e1") for _ in range(3)]
    assert [r.status_code for r in answers] == [429, 429, 200]
    assert answers[0].json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert answers[0].headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert hubspot_sandbox.stats()["rate_limited"] == 2


def test_route_filter_and_times_cap(hubspot_sandbox: SandboxServer) -> None:
    hubspot_sandbox.add_fault(Fault(kind="5xx_before", times=2, route="upsert"))
    api = Api(hubspot_sandbox)
    assert api.read("e1").status_code == 404
    assert [api.upsert([event()]).status_code for _ in range(3)] == [503, 503, 200]
    assert hubspot_sandbox.stats()["faults_injected"] == 2


def test_probability_is_seeded_and_reproducible(hubspot_sandbox: SandboxServer) -> None:
    def run() -> list[int]:
        hubspot_sandbox.reset()
        hubspot_sandbox.add_fault(Fault(kind="5xx_before", probability=0.5))
        api = Api(hubspot_sandbox)
        return [api.read("e1").status_code for _ in range(16)]

    first, second = run(), run()
    assert first == second
    assert set(first) == {404, 503}


def test_clear_faults(hubspot_sandbox: SandboxServer) -> None:
    hubspot_sandbox.add_fault(Fault(kind="5xx_before"))
    hubspot_sandbox.clear_faults()
    assert Api(hubspot_sandbox).upsert([event()]).status_code == 200


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "explode"},
        {"kind": "429", "route": "write"},
        {"kind": "429", "probability": 2},
        {"kind": "429", "x": 1},
    ],
)
def test_invalid_fault_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="fault"):
        Fault.from_dict(bad)
