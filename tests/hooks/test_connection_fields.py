"""The connection's knobs and form: one list behind ClientConfig, the hook and conn-fields; no
non-secret field named like a secret (Airflow would mask it); the OAuth endpoint's old key; the
connection test's messages as the UI shows them."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from hubspot_events_provider.core.http.auth import OAuthAuth
from hubspot_events_provider.core.http.config import CONNECTION_KNOBS, ClientConfig, knob_names
from hubspot_events_provider.get_provider_info import get_provider_info
from hubspot_events_provider.hooks.hubspot import OVERRIDABLE, HubSpotHook
from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer
from tests.conftest import REPO_ROOT

Factory = Callable[..., SandboxServer]
PASSWORD_FIELDS = {"client_secret", "refresh_token"}


def conn_fields() -> dict[str, Any]:
    fields: dict[str, Any] = get_provider_info()["connection-types"][0]["conn-fields"]
    return fields


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "hubspot_default", **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "hubspot", **fields}))


def should_hide_value_for_key(name: str) -> bool:
    """Airflow's own test of a sensitive name (the module moved between 3.0 and 3.3)."""
    try:
        from airflow._shared.secrets_masker import should_hide_value_for_key as hide
    except ImportError:  # Airflow 3.0/3.1
        from airflow.sdk.execution_time.secrets_masker import should_hide_value_for_key as hide
    return bool(hide(name))


# -- one list of knobs ----------------------------------------------------------------------------


def test_knobs_cover_every_config_field_once() -> None:
    config_fields = {f.name for f in dataclasses.fields(ClientConfig)} - {"base_url"}
    assert sorted(k.field for k in CONNECTION_KNOBS) == sorted(config_fields)


def test_overridable_arguments_and_conn_fields_are_the_knobs() -> None:
    assert knob_names() == OVERRIDABLE
    assert {k.name for k in CONNECTION_KNOBS} | {"read_timeout"} == OVERRIDABLE
    auth = {"auth_type", "client_id", "client_secret", "refresh_token", "oauth_endpoint"}
    assert set(conn_fields()) == {k.name for k in CONNECTION_KNOBS} | auth
    for knob in CONNECTION_KNOBS:
        # A knob without a default (budget_sharers) has no "default": the form's field starts empty.
        assert conn_fields()[knob.name]["schema"].get("default") == getattr(ClientConfig(), knob.field)


def test_parameters_doc_has_a_row_per_knob_with_its_default() -> None:
    doc = (REPO_ROOT / "docs" / "parameters.md").read_text()
    section = doc[doc.index("## Connection extras and `hook_params`") :]
    section = section[: section.index("\n## ", 1)]
    rows = {m[1]: m[2] for m in re.finditer(r"^\| `(\w+)`[^|]* \| ([^|]+) \|", section, re.MULTILINE)}
    assert sorted(rows) == sorted(k.name for k in CONNECTION_KNOBS)
    for knob in CONNECTION_KNOBS:
        default = knob.default
        shown = "empty" if default is None else f'"{default}"' if isinstance(default, str) else repr(default)
        assert shown in rows[knob.name], f"{knob.name}: default {shown} not in {rows[knob.name]!r}"


# A value for each knob that differs from its default (and from the other knobs' values).
VALUES: dict[str, Any] = {
    "api_version": "v3",
    "max_requests_per_10s": 37,
    "timeout": 41.0,
    "connect_timeout": 3.0,
    "max_retries": 2,
    "max_retry_time": 77.0,
    "backoff_base": 0.25,
    "backoff_cap": 5.0,
    "rate_window_s": 2.5,
    "pool_size": 9,
    "budget_sharers": 4,
    "budget_store": "redis://:pw-for-the-knob-test@127.0.0.1:6399/2",
    "budget_key": "crm-app-prod",
}


def test_every_knob_is_read_from_the_extras_and_from_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(VALUES) == {k.name for k in CONNECTION_KNOBS}
    expected = {k.field: VALUES[k.name] for k in CONNECTION_KNOBS}
    set_conn(monkeypatch, password="x", extra={k: str(v) for k, v in VALUES.items()})
    config = HubSpotHook().build_config()
    assert {f: getattr(config, f) for f in expected} == expected
    set_conn(monkeypatch, password="x")
    config = HubSpotHook(**VALUES).build_config()
    assert {f: getattr(config, f) for f in expected} == expected


def test_backoff_cap_as_hook_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password="x", extra={"backoff_cap": 30})
    hook_params = {"backoff_cap": 5, "read_timeout": 12}
    config = HubSpotHook(**hook_params).client.config
    assert (config.backoff_cap, config.read_timeout) == (5.0, 12.0)


def test_the_connection_is_read_once_per_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password="x")
    reads: list[str] = []
    real = HubSpotHook.get_connection.__func__  # type: ignore[attr-defined]

    def counting(cls: type[HubSpotHook], conn_id: str) -> Any:
        reads.append(conn_id)
        return real(cls, conn_id)

    monkeypatch.setattr(HubSpotHook, "get_connection", classmethod(counting))
    hook = HubSpotHook()
    hook.build_config()
    hook.build_auth()
    _ = hook.client
    assert reads == ["hubspot_default"]


# -- names Airflow masks --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(get_provider_info()["connection-types"][0]["conn-fields"]))
def test_only_secret_fields_have_names_airflow_masks(name: str) -> None:
    secret = conn_fields()[name]["schema"].get("format") == "password"
    assert secret == (name in PASSWORD_FIELDS)
    assert should_hide_value_for_key(name) is secret
    assert should_hide_value_for_key(f"extra__hubspot__{name}") is secret


def test_hook_metadata_shows_every_default_unmasked() -> None:
    """What the UI's form gets (``GET /ui/connections/hook_meta``), built by Airflow's own service."""
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_2_PLUS

    if not AIRFLOW_V_3_2_PLUS:
        pytest.skip("Airflow < 3.2 builds connection widgets only with flask_appbuilder installed")
    services = pytest.importorskip("airflow.api_fastapi.core_api.services.ui.connections")
    metas = {m.connection_type: m for m in services.HookMetaService.hook_meta_data()}
    extra = metas["hubspot"].extra_fields
    assert extra is not None
    assert set(extra) == set(conn_fields())
    values = {name: spec.get("value") for name, spec in extra.items()}
    assert values["oauth_endpoint"] == "/oauth/v3/token"
    assert values["api_version"] == "2026-03"
    assert "***" not in values.values()
    standard = metas["hubspot"].standard_fields
    assert standard.password.title == "Access token"
    assert "Service Key" in standard.password.placeholder


@pytest.fixture
def oauth_sandbox(hubspot_sandbox_factory: Factory) -> SandboxServer:
    return hubspot_sandbox_factory(SandboxConfig())


OAUTH = {"auth_type": "oauth", "client_id": "client-id", "client_secret": "client-secret"}


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"oauth_endpoint": "/oauth/2026-03/token"}, "/oauth/2026-03/token"),
        ({"oauth_token_path": "/oauth/v1/token"}, "/oauth/v1/token"),  # the former key, still read
        ({"extra__hubspot__oauth_endpoint": "/oauth/v1/token"}, "/oauth/v1/token"),
        ({"oauth_token_path": "***"}, "/oauth/v3/token"),  # what the UI saved for the masked default
        ({"oauth_endpoint": "***", "oauth_token_path": "***"}, "/oauth/v3/token"),
        ({}, "/oauth/v3/token"),
    ],
)
def test_oauth_endpoint_keys(
    monkeypatch: pytest.MonkeyPatch, oauth_sandbox: SandboxServer, extra: dict[str, str], path: str
) -> None:
    set_conn(monkeypatch, host=oauth_sandbox.url, extra={**OAUTH, "refresh_token": "refresh-token", **extra})
    hook = HubSpotHook()
    assert isinstance(hook.client.auth, OAuthAuth)
    assert hook.client.auth.token_path == path
    hook.client.check_access()
    assert [r.path for r in oauth_sandbox.requests()] == [path, "/marketing/marketing-events/2026-03"]


def test_a_masked_value_is_never_a_path() -> None:
    with pytest.raises(ValueError, match="must be a URL path"):
        OAuthAuth("client-id", "client-secret", "refresh-token", token_path="***")


# -- the connection test as the UI shows it -------------------------------------------------------

TEMP_ID = "tmp_conn_q1w2e3r4"  # the UI tests a temporary copy of the connection under such an id


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("wrong_token", "Authentication failed: HubSpot refused the access token"),
        ("no_token", "no access token"),
        ("missing_scopes", "The access token lacks the scope crm.objects.marketing_events.read"),
        ("bad_version", "Unsupported HubSpot api_version 'v9'"),
        ("unreachable", "HubSpot is unreachable at http://127.0.0.1:9"),
        ("server_error", "HubSpot answered with an error (HTTP 500 INTERNAL_ERROR)"),
    ],
)
def test_connection_test_messages_fit_a_toast(
    monkeypatch: pytest.MonkeyPatch, hubspot_sandbox: SandboxServer, case: str, words: str
) -> None:
    from hubspot_events_provider.sandbox import Fault

    fields: dict[str, Any] = {"host": hubspot_sandbox.url, "password": hubspot_sandbox.token}
    if case == "wrong_token":
        fields["password"] = "pat-na1-wrong"
    elif case == "no_token":
        del fields["password"]
    elif case == "missing_scopes":
        hubspot_sandbox.configure(missing_scopes=True)
    elif case == "bad_version":
        fields["extra"] = {"api_version": "v9"}
    elif case == "unreachable":
        fields.update(host="http://127.0.0.1:9", extra={"connect_timeout": 1})
    else:
        hubspot_sandbox.add_fault(Fault(kind="5xx_before", status=500, times=None))
        fields["extra"] = {"max_retries": 0}
    set_conn(monkeypatch, TEMP_ID, **fields)
    ok, message = HubSpotHook(hubspot_conn_id=TEMP_ID).test_connection()
    assert ok is False
    assert words in message
    assert TEMP_ID not in message
    assert len(message) <= 200, message


def test_successful_connection_test_says_access_token(
    monkeypatch: pytest.MonkeyPatch, hubspot_sandbox: SandboxServer
) -> None:
    set_conn(monkeypatch, TEMP_ID, host=hubspot_sandbox.url, password=hubspot_sandbox.token)
    ok, message = HubSpotHook(hubspot_conn_id=TEMP_ID).test_connection()
    assert (ok, message) == (
        True,
        f"Connected to HubSpot at {hubspot_sandbox.url} (Marketing Events API 2026-03); "
        "the access token can read marketing events.",
    )
