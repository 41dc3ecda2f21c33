"""Bearer auth (401 invalid / expired), 403 missing scopes and the three OAuth token endpoints."""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer
from hubspot_events_provider.sandbox.pytest_plugin import SandboxFactory
from tests.sandbox.conftest import Api, event

TOKEN_PATHS = ["/oauth/v1/token", "/oauth/v3/token", "/oauth/2026-03/token"]
FORM = {
    "grant_type": "refresh_token",
    "client_id": "client-id",
    "client_secret": "client-secret",
    "refresh_token": "refresh-token",
}


@pytest.mark.parametrize(
    ("auth", "token"), [(False, None), (True, "wrong-token")], ids=["missing", "unknown"]
)
def test_missing_or_unknown_token_is_401_invalid_authentication(
    api: Api, auth: bool, token: str | None
) -> None:
    resp = api.upsert([event()], auth=auth, token=token)
    assert resp.status_code == 401
    body = resp.json()
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert "Authentication credentials not found" in body["message"]
    assert uuid.UUID(body["correlationId"])
    assert body["links"]
    assert resp.headers["X-HubSpot-RateLimit-Max"]
    assert api.sandbox.events() == []
    assert api.sandbox.requests()[-1].status == 401
    assert api.sandbox.requests()[-1].app is None


def _refresh(sandbox: SandboxServer, path: str, **overrides: str) -> requests.Response:
    return requests.post(sandbox.url + path, data={**FORM, **overrides}, timeout=10)


@pytest.mark.parametrize("path", TOKEN_PATHS)
def test_oauth_refresh_issues_a_working_access_token(api: Api, path: str) -> None:
    resp = _refresh(api.sandbox, path)
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1800
    assert body["refresh_token"] == "refresh-token"
    assert body["hub_id"] == api.sandbox.config.hub_id
    assert "crm.objects.marketing_events.write" in body["scopes"]
    assert api.upsert([event()], token=body["access_token"]).status_code == 200
    assert api.sandbox.stats()["token_requests"] == 1


@pytest.mark.parametrize("path", TOKEN_PATHS)
@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"client_id": "other"}, "invalid_client"),
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"refresh_token": "stale"}, "invalid_grant"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({"refresh_token": ""}, "invalid_request"),
    ],
)
def test_oauth_refresh_errors_follow_rfc6749(
    hubspot_sandbox: SandboxServer, path: str, override: dict[str, str], error: str
) -> None:
    resp = _refresh(hubspot_sandbox, path, **override)
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] == error
    assert body["error_description"]
    assert body["status"]
    assert body["message"] == body["error_description"]
    assert "client-secret" not in resp.text


@pytest.mark.parametrize("path", TOKEN_PATHS)
def test_oauth_json_body_refused(hubspot_sandbox: SandboxServer, path: str) -> None:
    resp = requests.post(hubspot_sandbox.url + path, json=FORM, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"


def test_expired_access_token_is_401_expired_authentication(api: Api) -> None:
    token = _refresh(api.sandbox, "/oauth/v3/token").json()["access_token"]
    assert api.read("none", token=token).status_code == 404
    api.sandbox.expire_access_tokens()
    resp = api.upsert([event()], token=token)
    assert resp.status_code == 401
    body = resp.json()
    assert body["category"] == "EXPIRED_AUTHENTICATION"
    match = re.search(r"expired (\d+) second\(s\) ago", body["message"])
    assert match is not None
    assert int(match.group(1)) >= 1
    fresh = _refresh(api.sandbox, "/oauth/v3/token").json()["access_token"]
    assert api.upsert([event()], token=fresh).status_code == 200


def test_access_token_ttl_zero_expires_immediately(hubspot_sandbox_factory: SandboxFactory) -> None:
    sandbox = hubspot_sandbox_factory(SandboxConfig(access_token_ttl_s=0))
    token = _refresh(sandbox, "/oauth/v1/token").json()["access_token"]
    resp = Api(sandbox).upsert([event()], token=token)
    assert resp.status_code == 401
    assert resp.json()["category"] == "EXPIRED_AUTHENTICATION"


@pytest.mark.parametrize(
    ("method", "template", "kwargs", "scope"),
    [
        ("POST", "/events/upsert", {"json": {"inputs": [event()]}}, "crm.objects.marketing_events.write"),
        ("GET", "/events/search", {"params": {"q": "e1"}}, "crm.objects.marketing_events.read"),
        ("GET", "", {}, "crm.objects.marketing_events.read"),
        ("POST", "/events/delete", {"json": {"inputs": []}}, "crm.objects.marketing_events.write"),
    ],
)
def test_missing_scopes_is_403(
    hubspot_sandbox: SandboxServer, method: str, template: str, kwargs: dict[str, object], scope: str
) -> None:
    hubspot_sandbox.configure(missing_scopes=True)
    resp = Api(hubspot_sandbox).call(method, template, **kwargs)
    assert resp.status_code == 403
    body = resp.json()
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == [scope]
    assert hubspot_sandbox.events() == []
