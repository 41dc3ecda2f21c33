"""ClientConfig validation and base-URL normalisation."""

from __future__ import annotations

import pytest

from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import (
    DEFAULT_BASE_URL,
    ClientConfig,
    is_loopback_host,
    normalize_base_url,
)


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "https://api.hubapi.com"),
        ("", None, "https://api.hubapi.com"),
        ("api.hubapi.com", None, "https://api.hubapi.com"),
        ("https://api.hubapi.com/", None, "https://api.hubapi.com"),
        ("HTTPS://api.hubapi.com", None, "https://api.hubapi.com"),
        ("https://proxy.example.com/hubspot/", None, "https://proxy.example.com/hubspot"),
        ("http://127.0.0.1:8765", None, "http://127.0.0.1:8765"),
        ("http://127.9.9.9", None, "http://127.9.9.9"),
        ("http://[::1]:9000", None, "http://[::1]:9000"),
        ("http://localhost:1234", None, "http://localhost:1234"),
        ("127.0.0.1", 8765, "http://127.0.0.1:8765"),
        ("localhost:8000", None, "http://localhost:8000"),
        ("api.hubapi.com", 443, "https://api.hubapi.com:443"),
    ],
)
def test_normalize_base_url(host: str | None, port: int | None, expected: str) -> None:
    assert normalize_base_url(host, port) == expected


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("http://api.hubapi.com", "Plain http is refused"),
        ("http://10.0.0.5:8080", "Plain http is refused"),
        ("http://128.0.0.1", "Plain http is refused"),
        ("http://localhost.evil.com", "Plain http is refused"),
        ("ftp://api.hubapi.com", "must use https"),
        ("https://user:hunter2@api.hubapi.com", "must not contain credentials"),
    ],
)
def test_normalize_base_url_refuses(host: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        normalize_base_url(host)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("10.0.0.1", False),
        ("api.hubapi.com", False),
        ("0.0.0.0", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_defaults() -> None:
    config = ClientConfig()
    assert config.base_url == DEFAULT_BASE_URL
    assert config.api_version == "2026-03"
    assert config.api_prefix == "/marketing/marketing-events/2026-03"
    assert config.timeout == (10.0, 60.0)
    assert config.max_requests_per_10s == 100


@pytest.mark.parametrize(
    ("version", "prefix"),
    [
        ("2026-03", "/marketing/marketing-events/2026-03"),
        ("2026-09", "/marketing/marketing-events/2026-09"),
        ("v3", "/marketing/v3/marketing-events"),
    ],
)
def test_api_prefix(version: str, prefix: str) -> None:
    assert ClientConfig(api_version=version).api_prefix == prefix


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_version": "v4"}, "Unsupported HubSpot api_version 'v4'; use one of 2026-03, 2026-09, v3"),
        ({"connect_timeout": 0}, "connect_timeout must be a positive number"),
        ({"read_timeout": -1.0}, "read_timeout must be a positive number"),
        ({"max_retry_time": float("inf")}, "max_retry_time must be a positive number"),
        ({"max_requests_per_10s": 0}, "max_requests_per_10s must be an integer >= 1"),
        ({"max_requests_per_10s": 1.5}, "max_requests_per_10s must be an integer >= 1"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0"),
        ({"pool_size": True}, "pool_size must be an integer >= 1"),
        ({"budget_sharers": 0}, "budget_sharers must be an integer >= 1 (how many tasks share"),
        ({"budget_sharers": 2.0}, "budget_sharers must be an integer >= 1"),
        ({"budget_sharers": True}, "budget_sharers must be an integer >= 1"),
        ({"base_url": "http://example.com"}, "Plain http is refused"),
    ],
)
def test_invalid_config(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ClientConfig(**kwargs)  # type: ignore[arg-type]


def test_repr_has_no_secret_fields() -> None:
    text = repr(ClientConfig(base_url="http://127.0.0.1:1"))
    assert "token" not in text.lower()
    assert "password" not in text.lower()


def test_budget_sharers_sets_the_default_limiters_sharers() -> None:
    base = "http://127.0.0.1:1"
    assert ClientConfig(base_url=base).budget_sharers is None
    shared = HubSpotClient(ClientConfig(base_url=base, budget_sharers=3), StaticTokenAuth("x"))
    alone = HubSpotClient(ClientConfig(base_url=base), StaticTokenAuth("x"))
    assert (shared.limiter.state.sharers, alone.limiter.state.sharers) == (3, 0)
