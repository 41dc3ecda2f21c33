"""HubSpotClient against the real sandbox over HTTP: routes, auth, typed errors, retries."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from hubspot_events_provider.core.errors import (
    HubSpotAuthError,
    HubSpotDailyLimitError,
    HubSpotError,
    HubSpotMissingScopesError,
    HubSpotNotFoundError,
    HubSpotServerError,
    HubSpotTransportError,
    HubSpotValidationError,
)
from hubspot_events_provider.core.http.auth import OAuthAuth, StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.sandbox import Fault, SandboxConfig, SandboxServer
from tests.support import wait_out_read_lag

CANARY = "pat-na1-CANARY-0000-secret-token"
EVENT = {
    "externalAccountId": "acme",
    "externalEventId": "ev-1",
    "eventName": "Webinar",
    "eventOrganizer": "Acme",
}

Factory = Callable[..., SandboxServer]


def fast_config(sb: SandboxServer, **kwargs: object) -> ClientConfig:
    settings: dict[str, object] = {
        "base_url": sb.url,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        "rate_window_s": 0.2,
        "max_retries": 3,
        "read_timeout": 5.0,
    }
    settings.update(kwargs)
    return ClientConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture
def sandbox(hubspot_sandbox_factory: Factory) -> SandboxServer:
    return hubspot_sandbox_factory(SandboxConfig(tokens=("sandbox-token", CANARY)))


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[HubSpotClient]:
    with HubSpotClient(fast_config(sandbox), StaticTokenAuth(sandbox.token)) as c:
        yield c


def data_requests(sb: SandboxServer) -> list[str]:
    return [f"{r.method} {r.path} {r.status}" for r in sb.requests() if not r.path.startswith("/oauth")]


@pytest.mark.parametrize(
    ("version", "prefix"),
    [
        ("2026-03", "/marketing/marketing-events/2026-03"),
        ("2026-09", "/marketing/marketing-events/2026-09"),
        ("v3", "/marketing/v3/marketing-events"),
    ],
)
def test_routes_round_trip(sandbox: SandboxServer, version: str, prefix: str) -> None:
    with HubSpotClient(fast_config(sandbox, api_version=version), StaticTokenAuth(sandbox.token)) as c:
        resp = c.upsert_events([EVENT])
        assert (resp.status, resp.method, resp.path) == (200, "POST", f"{prefix}/events/upsert")
        assert resp.body["results"][0]["eventName"] == "Webinar"
        wait_out_read_lag(sandbox)
        assert c.get_event("ev-1", "acme")["externalEventId"] == "ev-1"
        assert [r["externalEventId"] for r in c.search_events("ev-1")] == ["ev-1"]
        assert [e["externalEventId"] for e in c.iter_events(page_size=1)] == ["ev-1"]
        c.check_access()
        c.delete_event("ev-1", "acme")
        wait_out_read_lag(sandbox)
        with pytest.raises(HubSpotNotFoundError) as info:
            c.get_event("ev-1", "acme")
        assert c.stats.snapshot() == {"requests": 7, "retries": 0, "rate_limited": 0}
    err = info.value
    assert (err.status, err.category, err.method, err.path) == (
        404,
        "OBJECT_NOT_FOUND",
        "GET",
        f"{prefix}/events/ev-1",
    )
    assert err.correlation_id
    assert "externalAccountId=" not in str(err)
    assert sandbox.get_event("acme", "ev-1") is None


def test_external_ids_are_url_encoded(client: HubSpotClient, sandbox: SandboxServer) -> None:
    client.upsert_events([{**EVENT, "externalEventId": "a/b c?d"}])
    wait_out_read_lag(sandbox)
    assert client.get_event("a/b c?d", "acme")["externalEventId"] == "a/b c?d"


def test_rate_limit_status_is_read_from_headers(client: HubSpotClient, sandbox: SandboxServer) -> None:
    sandbox.configure(rate_limit=50)
    client.check_access()
    status = client.rate_limit_status
    assert status is not None
    assert (status.max, status.remaining) == (50, 49)


def test_static_token_is_sent_as_bearer(client: HubSpotClient, sandbox: SandboxServer) -> None:
    client.check_access()
    assert data_requests(sandbox) == ["GET /marketing/marketing-events/2026-03 200"]


@pytest.mark.parametrize(
    ("fault", "requests"),
    [
        (Fault(kind="5xx_before", times=2, status=503), 3),
        (Fault(kind="5xx_before", times=1, status=500), 2),
        (Fault(kind="5xx_after", times=1, status=502), 2),
        (Fault(kind="429", times=2), 3),
        (Fault(kind="truncate", times=1), 2),
    ],
)
def test_transient_answers_are_retried(
    client: HubSpotClient, sandbox: SandboxServer, fault: Fault, requests: int
) -> None:
    sandbox.add_fault(fault)
    resp = client.upsert_events([EVENT])
    assert resp.status == 200
    assert len(data_requests(sandbox)) == requests
    assert client.stats.snapshot()["retries"] == requests - 1
    assert sandbox.get_event("acme", "ev-1") is not None


@pytest.mark.parametrize("kind", ["drop_before", "drop_after"])
def test_dropped_connections_are_retried(client: HubSpotClient, sandbox: SandboxServer, kind: str) -> None:
    sandbox.add_fault(Fault(kind=kind, times=1))  # type: ignore[arg-type]
    assert client.upsert_events([EVENT]).status == 200
    assert client.stats.snapshot()["retries"] == 1
    assert sandbox.get_event("acme", "ev-1") is not None


def test_429_is_counted_and_pauses_the_limiter(client: HubSpotClient, sandbox: SandboxServer) -> None:
    sandbox.add_fault(Fault(kind="429", times=1))
    client.check_access()
    assert client.stats.snapshot() == {"requests": 2, "retries": 1, "rate_limited": 1}
    first, second = [r for r in sandbox.requests() if not r.path.startswith("/oauth")]
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.2  # the retry waited out the (0.2 s) window


def test_retries_are_bounded_by_attempts(client: HubSpotClient, sandbox: SandboxServer) -> None:
    sandbox.add_fault(Fault(kind="5xx_before", status=503))
    with pytest.raises(HubSpotServerError) as info:
        client.check_access()
    assert info.value.status == 503
    assert len(data_requests(sandbox)) == 4  # 1 + max_retries


def test_retries_are_bounded_by_total_time(sandbox: SandboxServer) -> None:
    sandbox.add_fault(Fault(kind="5xx_before", status=503))
    config = fast_config(sandbox, max_retries=50, backoff_base=0.2, backoff_cap=0.2, max_retry_time=0.5)
    with (
        HubSpotClient(config, StaticTokenAuth(sandbox.token), rng=lambda: 1.0) as c,
        pytest.raises(HubSpotServerError),
    ):
        c.check_access()
    assert 2 <= len(data_requests(sandbox)) <= 4


@pytest.mark.parametrize(
    ("setup", "error", "status", "category"),
    [
        ({"partial_mode": "400"}, HubSpotValidationError, 400, "VALIDATION_ERROR"),
        ({"missing_scopes": True}, HubSpotMissingScopesError, 403, "MISSING_SCOPES"),
    ],
)
def test_client_errors_are_not_retried(
    client: HubSpotClient,
    sandbox: SandboxServer,
    setup: dict[str, object],
    error: type[HubSpotError],
    status: int,
    category: str,
) -> None:
    sandbox.configure(**setup)
    bad = {**EVENT, "eventName": ""}
    with pytest.raises(error) as info:
        client.upsert_events([EVENT, bad])
    assert (info.value.status, info.value.category) == (status, category)
    assert info.value.body  # the parsed HubSpot answer is kept
    assert len(data_requests(sandbox)) == 1
    assert client.stats.snapshot()["retries"] == 0


def test_missing_scope_error_names_the_scope(client: HubSpotClient, sandbox: SandboxServer) -> None:
    sandbox.configure(missing_scopes=True)
    with pytest.raises(HubSpotMissingScopesError, match=r"crm\.objects\.marketing_events\.read"):
        client.check_access()


def test_bad_token_is_not_retried(sandbox: SandboxServer) -> None:
    with (
        HubSpotClient(fast_config(sandbox), StaticTokenAuth("wrong")) as c,
        pytest.raises(HubSpotAuthError) as info,
    ):
        c.check_access()
    assert (info.value.status, info.value.category) == (401, "INVALID_AUTHENTICATION")
    assert len(data_requests(sandbox)) == 1


def test_daily_limit_fails_fast(client: HubSpotClient, sandbox: SandboxServer) -> None:
    sandbox.configure(daily_limit=1)
    client.check_access()
    with pytest.raises(HubSpotDailyLimitError) as info:
        client.check_access()
    assert len(data_requests(sandbox)) == 2
    err = info.value
    assert (err.status, err.policy_name) == (429, "DAILY")
    assert "daily API request limit is spent" in str(err)
    assert "resets at midnight in the account's time zone" in str(err)
    assert "did not say when it resets" in str(err)


def test_unreachable_host_is_a_transport_error() -> None:
    config = ClientConfig(
        base_url="http://127.0.0.1:9", max_retries=1, backoff_base=0.01, connect_timeout=1.0
    )
    with HubSpotClient(config, StaticTokenAuth(CANARY)) as c, pytest.raises(HubSpotTransportError) as info:
        c.check_access()
    assert info.value.status is None
    assert str(info.value).startswith("GET /marketing/marketing-events/2026-03 failed (no response)")
    assert c.stats.snapshot()["retries"] == 1


def test_canary_token_never_leaks(sandbox: SandboxServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.add_fault(Fault(kind="5xx_before", status=503))
    errors: list[BaseException] = []
    with HubSpotClient(fast_config(sandbox), StaticTokenAuth(CANARY)) as c:
        for call in (c.check_access, lambda: c.get_event("x", "y")):
            with pytest.raises(HubSpotError) as info:
                call()
            errors.append(info.value)
        sandbox.clear_faults()
        with pytest.raises(HubSpotNotFoundError) as nf:
            c.get_event("missing", "acme")
        errors.append(nf.value)
        texts = [repr(c), repr(c.auth), repr(c.config), caplog.text]
    with (
        HubSpotClient(
            fast_config(sandbox, base_url="http://127.0.0.1:9", max_retries=0), StaticTokenAuth(CANARY)
        ) as c2,
        pytest.raises(HubSpotTransportError) as te,
    ):
        c2.check_access()
    errors.append(te.value)
    texts += [str(e) for e in errors] + [repr(e) for e in errors] + [repr(e.body) for e in errors]  # type: ignore[attr-defined]
    assert caplog.text  # retries were logged
    for text in texts:
        assert CANARY not in text
        assert "Authorization" not in text


# -- OAuth --------------------------------------------------------------------------------------


def oauth(**kwargs: object) -> OAuthAuth:
    return OAuthAuth("client-id", "client-secret", "refresh-token", **kwargs)  # type: ignore[arg-type]


def token_requests(sb: SandboxServer) -> list[str]:
    return [f"{r.path} {r.status}" for r in sb.requests() if r.path.startswith("/oauth")]


@pytest.mark.parametrize("path", ["/oauth/v3/token", "/oauth/2026-03/token", "/oauth/v1/token"])
def test_oauth_refreshes_once_and_caches(sandbox: SandboxServer, path: str) -> None:
    fresh: list[str] = []
    auth = oauth(token_path=path, on_new_token=fresh.append)
    with HubSpotClient(fast_config(sandbox), auth) as c:
        for _ in range(3):
            c.check_access()
    assert token_requests(sandbox) == [f"{path} 200"]
    assert len(fresh) == 1
    assert fresh[0] not in repr(auth)
    assert "client-secret" not in repr(auth)
    assert "refresh-token" not in repr(auth)


def test_oauth_refreshes_early_before_expiry(hubspot_sandbox_factory: Factory) -> None:
    sb = hubspot_sandbox_factory(access_token_ttl_s=60)
    now = [0.0]
    auth = oauth(clock=lambda: now[0])
    with HubSpotClient(fast_config(sb), auth) as c:
        c.check_access()
        now[0] = 53.0  # 60 s token, refreshed 10 % (6 s) early
        c.check_access()
        now[0] = 55.0
        c.check_access()
    assert token_requests(sb) == ["/oauth/v3/token 200", "/oauth/v3/token 200"]


def test_oauth_refreshes_once_on_expired_token(sandbox: SandboxServer) -> None:
    fresh: list[str] = []
    with HubSpotClient(fast_config(sandbox), oauth(on_new_token=fresh.append)) as c:
        c.check_access()
        sandbox.expire_access_tokens()
        c.check_access()
    assert token_requests(sandbox) == ["/oauth/v3/token 200", "/oauth/v3/token 200"]
    assert [r.split()[-1] for r in data_requests(sandbox)] == ["200", "401", "200"]
    assert len(set(fresh)) == 2


def test_oauth_bad_refresh_token_is_an_auth_error(sandbox: SandboxServer) -> None:
    auth = OAuthAuth("client-id", "client-secret", "not-a-refresh-token")
    with HubSpotClient(fast_config(sandbox), auth) as c, pytest.raises(HubSpotAuthError) as info:
        c.check_access()
    assert info.value.path == "/oauth/v3/token"
    assert info.value.status == 400
    assert "not-a-refresh-token" not in str(info.value)
    assert "client-secret" not in str(info.value)
    assert data_requests(sandbox) == []


def test_static_token_401_never_refreshes(sandbox: SandboxServer) -> None:
    with (
        HubSpotClient(fast_config(sandbox), StaticTokenAuth("unknown")) as c,
        pytest.raises(HubSpotAuthError),
    ):
        c.check_access()
    assert token_requests(sandbox) == []


@pytest.mark.parametrize(
    ("kwargs", "missing"), [({"client_id": ""}, "client_id"), ({"refresh_token": ""}, "refresh_token")]
)
def test_oauth_requires_all_credentials(kwargs: dict[str, str], missing: str) -> None:
    values = {"client_id": "id", "client_secret": "s", "refresh_token": "r", **kwargs}
    with pytest.raises(ValueError, match=f"OAuth needs {missing}"):
        OAuthAuth(**values)


def test_static_token_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="access token is empty"):
        StaticTokenAuth("  ")


class RefreshableTestAuth:
    """Refreshable credentials whose token HubSpot does not know (INVALID_AUTHENTICATION)."""

    refreshable = True

    def __init__(self) -> None:
        self.refreshes = 0

    def bind(self, session: object, base_url: str, timeout: tuple[float, float]) -> None:
        pass

    def authorization(self) -> str:
        return "Bearer unknown-oauth-token"

    def refresh(self, rejected: str) -> None:
        self.refreshes += 1


def test_invalid_authentication_never_refreshes(sandbox: SandboxServer) -> None:
    auth = RefreshableTestAuth()
    with HubSpotClient(fast_config(sandbox), auth) as c, pytest.raises(HubSpotAuthError) as info:  # type: ignore[arg-type]
        c.check_access()
    assert info.value.category == "INVALID_AUTHENTICATION"
    assert auth.refreshes == 0
    assert len(data_requests(sandbox)) == 1


# -- rate limiting ------------------------------------------------------------------------------


def test_burst_from_threads_stays_under_the_window(hubspot_sandbox_factory: Factory) -> None:
    from concurrent.futures import ThreadPoolExecutor

    sb = hubspot_sandbox_factory(rate_limit=10, rate_window_s=0.5)
    config = fast_config(sb, max_requests_per_10s=10, rate_window_s=0.5)
    with HubSpotClient(config, StaticTokenAuth(sb.token)) as c, ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: c.check_access(), range(30)))
        stats = c.stats.snapshot()
    times = sorted(r.at for r in sb.requests())
    per_window = max(sum(1 for t in times if start <= t < start + 0.5) for start in times)
    assert len(times) == 30
    assert per_window <= 10
    assert sb.stats()["rate_limited"] == 0
    assert stats == {"requests": 30, "retries": 0, "rate_limited": 0}


def test_a_fresh_token_reported_expired_again_is_refreshed_at_most_twice(
    hubspot_sandbox_factory: Factory,
) -> None:
    """Every issued token is already expired: the call refreshes for each new token it sees
    rejected, at most twice, then fails instead of looping."""
    sb = hubspot_sandbox_factory(access_token_ttl_s=0)
    auth = oauth()
    with HubSpotClient(fast_config(sb), auth) as c, pytest.raises(HubSpotAuthError) as info:
        c.check_access()
    assert info.value.category == "EXPIRED_AUTHENTICATION"
    # Three tries (the first token, then one per refresh), never a loop; with a zero lifetime the
    # cache also fetches a token before each try, hence up to two token requests per try.
    assert [r.split()[-1] for r in data_requests(sb)] == ["401", "401", "401"]
    assert 3 <= auth.refresh_count <= 6


# -- what the task log says about unreachable hosts and long waits (issue 16, defects 4 and 7) ----


def test_refused_connection_names_host_and_cause() -> None:
    config = ClientConfig(base_url="http://127.0.0.1:9", max_retries=0, connect_timeout=1.0)
    with HubSpotClient(config, StaticTokenAuth(CANARY)) as c, pytest.raises(HubSpotTransportError) as info:
        c.check_access()
    assert info.value.message == "connection failed to 127.0.0.1:9: connection refused (ConnectionError)."


def test_unresolvable_host_names_host_and_cause() -> None:
    config = ClientConfig(base_url="https://no-such-host.invalid", max_retries=0, connect_timeout=2.0)
    with HubSpotClient(config, StaticTokenAuth(CANARY)) as c, pytest.raises(HubSpotTransportError) as info:
        c.check_access()
    assert info.value.message == (
        "connection failed to no-such-host.invalid: name resolution failed (ConnectionError)."
    )


def test_tls_failure_names_host_and_cause(sandbox: SandboxServer) -> None:
    # https to the sandbox's plain-http port: the TLS handshake fails.
    config = ClientConfig(base_url=f"https://127.0.0.1:{sandbox.port}", max_retries=0, connect_timeout=2.0)
    with HubSpotClient(config, StaticTokenAuth(CANARY)) as c, pytest.raises(HubSpotTransportError) as info:
        c.check_access()
    assert (
        info.value.message
        == f"connection failed to 127.0.0.1:{sandbox.port}: TLS handshake failed (SSLError)."
    )


def test_read_timeout_names_host_and_seconds(sandbox: SandboxServer) -> None:
    sandbox.add_fault(Fault(kind="latency", latency_s=1.0, times=1))
    with (
        HubSpotClient(fast_config(sandbox, read_timeout=0.2, max_retries=0), StaticTokenAuth(CANARY)) as c,
        pytest.raises(HubSpotTransportError) as info,
    ):
        c.check_access()
    assert info.value.message == f"no answer from 127.0.0.1:{sandbox.port} within 0.2 s (read timeout)."


def test_long_limiter_waits_are_logged_with_their_duration(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hubspot_events_provider.core.http.client")
    config = fast_config(sandbox, max_requests_per_10s=1, rate_window_s=1.2)
    with HubSpotClient(config, StaticTokenAuth(sandbox.token)) as c:
        c.check_access()
        c.check_access()  # the window's one slot is taken: waits about 1.2 s
    waits = [r.getMessage() for r in caplog.records if "for the rate limiter" in r.getMessage()]
    assert len(waits) == 1, waits
    prefix = "HubSpot GET /marketing/marketing-events/2026-03: waiting "
    assert waits[0].startswith(prefix)
    seconds = float(waits[0][len(prefix) :].split(" ")[0])
    assert 1.0 <= seconds <= 1.3
    assert waits[0].endswith(" s for the rate limiter (1 requests per 1.2 s).")
    first, second = [r.at for r in sandbox.requests()]
    assert second - first >= 1.0


def test_rate_limited_retry_says_the_limiter_pauses(
    client: HubSpotClient, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hubspot_events_provider.core.http.client")
    sandbox.add_fault(Fault(kind="429", times=1))
    client.check_access()
    retries = [r.getMessage() for r in caplog.records if "retry 1/3" in r.getMessage()]
    assert len(retries) == 1
    assert retries[0].endswith(", then the rate limiter's pause.")
    assert "429 TEN_SECONDLY_ROLLING" in retries[0]
