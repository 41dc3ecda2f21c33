"""HubSpotHook against the sandbox: Connection parsing (JSON and URI), auth, test_connection, secrets."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from hubspot_events_provider.core.errors import HubSpotError
from hubspot_events_provider.core.http.auth import OAuthAuth, StaticTokenAuth
from hubspot_events_provider.hooks.hubspot import HubSpotHook
from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer

CANARY = "pat-na1-CANARY-hook-secret"
Factory = Callable[..., SandboxServer]


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "hubspot_default", **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "hubspot", **fields}))


@pytest.fixture
def sandbox(hubspot_sandbox_factory: Factory) -> SandboxServer:
    return hubspot_sandbox_factory(SandboxConfig(tokens=("sandbox-token", CANARY)))


def test_hook_attributes() -> None:
    assert (HubSpotHook.conn_name_attr, HubSpotHook.default_conn_name) == (
        "hubspot_conn_id",
        "hubspot_default",
    )
    assert (HubSpotHook.conn_type, HubSpotHook.hook_name) == ("hubspot", "HubSpot")
    assert HubSpotHook().hubspot_conn_id == "hubspot_default"


def test_json_connection(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> None:
    extra = {
        "api_version": "v3",
        "timeout": "30",
        "connect_timeout": 3,
        "max_requests_per_10s": 190,
        "max_retries": 2,
        "backoff_base": "0.05",
        "backoff_cap": 2,
    }
    set_conn(monkeypatch, host=sandbox.url, password=sandbox.token, extra=extra)
    hook = HubSpotHook()
    client = hook.get_conn()
    assert client is hook.get_conn() is hook.client
    assert (client.config.base_url, client.config.api_version) == (sandbox.url, "v3")
    assert client.config.timeout == (3.0, 30.0)
    assert (client.config.max_requests_per_10s, client.config.max_retries) == (190, 2)
    assert (client.config.backoff_base, client.config.backoff_cap) == (0.05, 2.0)
    assert isinstance(client.auth, StaticTokenAuth)
    client.upsert_events(
        [{"externalAccountId": "a", "externalEventId": "e", "eventName": "n", "eventOrganizer": "o"}]
    )
    assert sandbox.requests()[-1].path == "/marketing/v3/marketing-events/events/upsert"


def test_uri_connection_with_prefixed_extras(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> None:
    uri = (
        f"hubspot://:{quote(sandbox.token, safe='')}@127.0.0.1:{sandbox.port}"
        "?extra__hubspot__api_version=2026-09&extra__hubspot__max_requests_per_10s=250"
    )
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_URI", uri)
    hook = HubSpotHook(hubspot_conn_id="hubspot_uri")
    assert hook.client.config.base_url == sandbox.url
    assert (hook.client.config.api_version, hook.client.config.max_requests_per_10s) == ("2026-09", 250)
    assert hook.test_connection()[0] is True


def test_uri_connection_with_scheme_in_host(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT", f"hubspot://:{sandbox.token}@{quote(sandbox.url, safe='')}"
    )
    assert HubSpotHook().client.config.base_url == sandbox.url


def test_default_host_is_hubspot(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password="x")
    assert HubSpotHook().build_config().base_url == "https://api.hubapi.com"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": "http://api.hubapi.com", "password": "x"}, "Plain http is refused"),
        ({"host": "http://10.1.2.3:8080", "password": "x"}, "Plain http is refused"),
        ({"password": "x", "extra": {"api_version": "v4"}}, "Unsupported HubSpot api_version 'v4'"),
        ({"password": "x", "extra": {"timeout": "soon"}}, "extra 'timeout' must be a number"),
        ({"password": "x", "extra": {"max_requests_per_10s": "lots"}}, "must be an integer"),
        ({"password": "x", "extra": {"auth_type": "basic"}}, "auth_type must be 'token' or 'oauth'"),
        ({"password": "x", "extra": {"budget_sharers": "0"}}, "budget_sharers must be an integer >= 1"),
        (
            {"password": "x", "extra": {"budget_sharers": "a few"}},
            "extra 'budget_sharers' must be an integer",
        ),
        ({}, "no access token: put the private app token"),
        ({"extra": {"auth_type": "oauth", "client_id": "c"}}, "OAuth needs client_secret, refresh_token"),
    ],
)
def test_invalid_connections(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, object], message: str
) -> None:
    set_conn(monkeypatch, **fields)
    hook = HubSpotHook()
    with pytest.raises(ValueError, match=message):
        _ = hook.client
    ok, text = hook.test_connection()
    assert ok is False
    assert message.split("'")[0] in text


SECRET_NAMES = (
    "token access_token api_token private_app_token password client_secret refresh_token api_key hapikey"
)


@pytest.mark.parametrize("name", SECRET_NAMES.split())
def test_secret_arguments_are_refused(name: str) -> None:
    with (
        pytest.warns(UserWarning, match="Put it in the Airflow Connection"),
        pytest.raises(ValueError, match=f"does not accept {name}") as info,
    ):
        HubSpotHook(**{name: CANARY})
    assert CANARY not in str(info.value)


def test_unknown_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="unexpected argument"):
        HubSpotHook(colour="blue")


def test_overrides_beat_extras(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> None:
    set_conn(monkeypatch, host=sandbox.url, password=sandbox.token, extra={"max_requests_per_10s": 100})
    assert HubSpotHook(max_requests_per_10s=10).client.config.max_requests_per_10s == 10


def test_budget_sharers_reaches_the_clients_limiter(
    monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer
) -> None:
    set_conn(monkeypatch, host=sandbox.url, password=sandbox.token, extra={"budget_sharers": 4})
    assert HubSpotHook().client.limiter.state.sharers == 4
    assert HubSpotHook(budget_sharers=6).client.limiter.state.sharers == 6  # hook_params win
    set_conn(monkeypatch, host=sandbox.url, password=sandbox.token, extra={"budget_sharers": ""})
    client = HubSpotHook().client  # an empty form field: unknown, the headers tell
    assert (client.config.budget_sharers, client.limiter.state.sharers) == (None, 0)


def test_test_connection_success(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> None:
    set_conn(monkeypatch, host=sandbox.url, password=sandbox.token)
    ok, message = HubSpotHook().test_connection()
    assert ok is True
    assert "Connected to HubSpot" in message
    assert [(r.method, r.path, r.query) for r in sandbox.requests()] == [
        ("GET", "/marketing/marketing-events/2026-03", "limit=1")
    ]


def test_test_connection_bad_token(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> None:
    set_conn(monkeypatch, host=sandbox.url, password="wrong-token")
    ok, message = HubSpotHook().test_connection()
    assert ok is False
    assert message.startswith("Authentication failed")
    assert "INVALID_AUTHENTICATION" in message
    assert len(sandbox.requests()) == 1


def test_test_connection_missing_scope(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> None:
    sandbox.configure(missing_scopes=True)
    set_conn(monkeypatch, host=sandbox.url, password=sandbox.token)
    ok, message = HubSpotHook().test_connection()
    assert ok is False
    assert "lacks the scope crm.objects.marketing_events.read" in message


def test_test_connection_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host="http://127.0.0.1:9", password=CANARY, extra={"connect_timeout": 1})
    ok, message = HubSpotHook().test_connection()
    assert ok is False
    assert message.startswith("HubSpot is unreachable at http://127.0.0.1:9")
    assert CANARY not in message


def test_oauth_connection_registers_fresh_tokens(
    monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer
) -> None:
    extra = {
        "auth_type": "oauth",
        "client_id": "client-id",
        "extra__hubspot__client_secret": "client-secret",
        "refresh_token": "refresh-token",
        "oauth_token_path": "/oauth/2026-03/token",
    }
    set_conn(monkeypatch, host=sandbox.url, extra=extra)
    masked: list[str] = []
    monkeypatch.setattr("hubspot_events_provider.hooks.hubspot.mask_secret", masked.append)
    hook = HubSpotHook()
    assert isinstance(hook.client.auth, OAuthAuth)
    assert hook.test_connection()[0] is True
    hook.client.check_access()
    sandbox.expire_access_tokens()
    hook.client.check_access()
    tokens = [r.path for r in sandbox.requests() if r.path.startswith("/oauth")]
    assert tokens == ["/oauth/2026-03/token"] * 3  # test_connection's client, then hook.client twice
    assert len(set(masked)) == 3


def test_canary_never_in_logs_or_errors(
    monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    set_conn(monkeypatch, host=sandbox.url, password=CANARY, extra={"max_retries": 1})
    sandbox.configure(missing_scopes=True)
    hook = HubSpotHook()
    ok, message = hook.test_connection()
    with pytest.raises(HubSpotError) as info:
        hook.client.check_access()
    texts = [
        message,
        str(info.value),
        repr(info.value),
        repr(hook.client),
        repr(hook.client.auth),
        caplog.text,
    ]
    for text in texts:
        assert CANARY not in text
    assert ok is False


def test_ui_field_behaviour_matches_provider_info() -> None:
    from hubspot_events_provider.get_provider_info import get_provider_info

    declared = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    legacy = HubSpotHook.get_ui_field_behaviour()
    assert legacy["hidden_fields"] == declared["hidden-fields"]
    assert legacy["relabeling"] == declared["relabeling"]
    assert legacy["placeholders"] == declared["placeholders"]
    assert "password" not in legacy["hidden_fields"]


def test_airflow_connections_test_cli(sandbox: SandboxServer, tmp_path: Path) -> None:
    env = dict(os.environ)
    env["AIRFLOW_CONN_HUBSPOT_DEFAULT"] = json.dumps(
        {"conn_type": "hubspot", "host": sandbox.url, "password": sandbox.token}
    )
    env["AIRFLOW__CORE__TEST_CONNECTION"] = "Enabled"
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run(
        [str(airflow), "connections", "test", "hubspot_default"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Connection success!" in result.stdout
    assert any(r.path == "/marketing/marketing-events/2026-03" for r in sandbox.requests())


@pytest.mark.parametrize("name", ["api_token", "private_app_token", "hapikey"])
def test_operator_refuses_the_other_secret_names(name: str) -> None:
    from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator

    for where in ({name: CANARY}, {"hook_params": {name: CANARY}}):
        with (
            pytest.warns(UserWarning, match="Put it in the Airflow Connection"),
            pytest.raises(ValueError, match=f"The argument '{name}' is refused") as info,
        ):
            UpsertMarketingEventsOperator(task_id="upsert", events=[], **where)  # type: ignore[arg-type]
        assert CANARY not in str(info.value)


def logged(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> str:
    """What the hook logged: Airflow 3.0 logs through the stdlib, 3.3 through structlog to stdout."""
    out, err = capfd.readouterr()
    return caplog.text + out + err


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("max_request_per_10s", "max_requests_per_10s"), ("budget_sharer", "budget_sharers")],
)
def test_an_unknown_extra_is_named_once_with_the_closest_knob(
    monkeypatch: pytest.MonkeyPatch,
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    typo: str,
    meant: str,
) -> None:
    set_conn(monkeypatch, host=sandbox.url, password=sandbox.token, extra={typo: "7", "api_version": "v3"})
    hook = HubSpotHook()
    with caplog.at_level(logging.WARNING):
        config = hook.build_config()
        text = logged(caplog, capfd)
        caplog.clear()
        hook.build_config()  # the same hook warns once
        again = logged(caplog, capfd)
    expected = (
        f"HubSpot connection 'hubspot_default': ignoring unknown extra(s) {typo!r} "
        f"(did you mean {meant!r}?); the defaults apply instead."
    )
    assert expected in text
    assert "ignoring unknown extra" not in again
    assert sandbox.token not in text
    assert config.api_version == "v3"
    assert config.max_requests_per_10s == 100
    assert config.budget_sharers is None


def test_known_and_prefixed_extras_raise_no_warning(
    monkeypatch: pytest.MonkeyPatch,
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    extra = {"max_requests_per_10s": 50, "extra__hubspot__timeout": 30, "auth_type": "token"}
    set_conn(monkeypatch, host=sandbox.url, password=sandbox.token, extra=extra)
    with caplog.at_level(logging.WARNING):
        HubSpotHook().build_config()
    assert "unknown extra" not in logged(caplog, capfd)
