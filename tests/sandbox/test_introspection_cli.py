"""``/_sandbox`` introspection routes, the ``hubspot-sandbox`` CLI and the pytest fixtures."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import requests

from hubspot_events_provider.sandbox import Fault, SandboxConfig, SandboxServer
from hubspot_events_provider.sandbox.pytest_plugin import TEST_READ_LAG_S, SandboxFactory
from tests.sandbox.conftest import Api, event


def test_introspection_routes(api: Api) -> None:
    base = api.sandbox.url + "/_sandbox"
    assert requests.get(base + "/health", timeout=10).json() == {"status": "ok", "url": api.sandbox.url}
    api.upsert([event("e1")])
    events = requests.get(base + "/events", timeout=10).json()["results"]
    assert [(e["externalAccountId"], e["externalEventId"]) for e in events] == [("acct", "e1")]
    log = requests.get(base + "/requests", timeout=10).json()["results"]
    assert [(r["method"], r["status"], r["inputs"][0]["externalEventId"]) for r in log] == [
        ("POST", 200, "e1")
    ]
    stats = requests.get(base + "/stats", timeout=10).json()
    assert (stats["creates"], stats["requests"], stats["upsert_requests"]) == (1, 1, 1)
    assert requests.post(base + "/reset", timeout=10).json() == {"status": "ok"}
    assert api.sandbox.events() == []
    assert api.sandbox.requests() == []


def test_config_route_changes_knobs_and_hides_secrets(api: Api) -> None:
    changes = {"partial_mode": "207", "rate_limit": 50, "faults": [{"kind": "5xx_before", "times": 1}]}
    resp = requests.post(api.sandbox.url + "/_sandbox/config", json=changes, timeout=10)
    assert resp.status_code == 200
    body = resp.json()
    assert (body["partial_mode"], body["rate_limit"]) == ("207", 50)
    assert body["faults"][0]["kind"] == "5xx_before"
    assert "sandbox-token" not in resp.text
    assert "client-secret" not in resp.text
    assert api.sandbox.config.faults == [Fault(kind="5xx_before", times=1)]
    assert api.upsert([event()]).status_code == 503


@pytest.mark.parametrize("changes", [{"nope": 1}, {"partial_mode": "418"}, {"faults": [{"kind": "x"}]}, [1]])
def test_config_route_refuses_bad_changes(hubspot_sandbox: SandboxServer, changes: object) -> None:
    resp = requests.post(hubspot_sandbox.url + "/_sandbox/config", json=changes, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["category"] == "VALIDATION_ERROR"
    assert hubspot_sandbox.config.partial_mode == "200"


def test_start_stop_and_context_manager() -> None:
    sandbox = SandboxServer(SandboxConfig(tokens=("t1", "t2")))
    with pytest.raises(RuntimeError):
        _ = sandbox.url
    sandbox.start()
    assert sandbox.token == "t1"
    session = requests.Session()
    url = sandbox.url
    assert session.get(url + "/_sandbox/health", timeout=10).status_code == 200
    sandbox.stop()
    sandbox.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(url + "/_sandbox/health", timeout=2)
    with SandboxServer() as again:
        assert again.url.startswith("http://127.0.0.1:")


def test_fixture_gives_a_fresh_default_sandbox(hubspot_sandbox: SandboxServer) -> None:
    assert hubspot_sandbox.config == SandboxConfig(read_lag_s=TEST_READ_LAG_S)
    assert hubspot_sandbox.events() == []
    assert requests.get(hubspot_sandbox.url + "/_sandbox/health", timeout=10).status_code == 200


def test_factory_accepts_config_or_fields(hubspot_sandbox_factory: SandboxFactory) -> None:
    one = hubspot_sandbox_factory(SandboxConfig(partial_mode="400"))
    two = hubspot_sandbox_factory(rate_limit=3)
    three = hubspot_sandbox_factory(SandboxConfig(seed=7), daily_limit=9)
    assert one.url != two.url
    assert (one.config.partial_mode, two.config.rate_limit) == ("400", 3)
    assert (three.config.seed, three.config.daily_limit) == (7, 9)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_runs_until_terminated() -> None:
    port = _free_port()
    cmd = [sys.executable, "-m", "hubspot_events_provider.sandbox.cli", "--port", str(port)]
    cmd += ["--token", "cli-token", "--partial-mode", "400", "--rate-limit", "20", "--latency", "0", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first
        assert "cli-token" in proc.stdout.readline()
        health = requests.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=10)
        assert health.json()["status"] == "ok"
        resp = requests.get(
            f"http://127.0.0.1:{port}/marketing/marketing-events/2026-03",
            headers={"Authorization": "Bearer cli-token"},
            timeout=10,
        )
        assert resp.status_code == 200
        assert resp.headers["X-HubSpot-RateLimit-Max"] == "20"
    finally:
        proc.terminate()
        out, _err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "stopped" in out
