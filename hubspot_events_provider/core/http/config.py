"""Settings of the HubSpot HTTP client, validated once, with no secrets in them.

:class:`ClientConfig` holds the base URL, the Marketing Events API version, timeouts, the request
budget of the rate limiter and the retry limits. It is Airflow-free: the hook builds it from a
Connection, the CLI and the benchmarks build it directly. Credentials live in the auth objects
(:mod:`hubspot_events_provider.core.http.auth`), never here, so ``repr(config)`` is safe to log.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hubspot_events_provider.core.http.budget_store import SCHEMES, redact_store_url

__all__ = [
    "API_PREFIXES",
    "CONNECTION_KNOBS",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "ClientConfig",
    "Knob",
    "is_loopback_host",
    "knob_names",
    "normalize_base_url",
]

DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_API_VERSION = "2026-03"

#: Path prefix of the Marketing Events API for each supported version.
API_PREFIXES: dict[str, str] = {
    "2026-03": "/marketing/marketing-events/2026-03",
    "2026-09": "/marketing/marketing-events/2026-09",
    "v3": "/marketing/v3/marketing-events",
}


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` is ``localhost`` or a loopback address (127.0.0.0/8, ::1).

    :param host: a host name or IP address, without port or brackets.
    """
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def normalize_base_url(host: str | None, port: int | None = None) -> str:
    """Turn a Connection host (with or without scheme) into a base URL such as ``https://api.hubapi.com``.

    A host without scheme gets ``https://``, except a loopback host, which gets ``http://`` (the
    local sandbox). Plain ``http://`` is refused for any host that is not a loopback address, so a
    token never crosses a network in clear text.

    :param host: the Connection host, e.g. ``api.hubapi.com``, ``https://api.hubapi.com`` or
        ``http://127.0.0.1:8765``; empty or ``None`` means :data:`DEFAULT_BASE_URL`.
    :param port: the Connection port, added when the host carries none.
    :raises ValueError: on an unsupported scheme, credentials in the URL, or remote plain http.
    """
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_BASE_URL
    if "://" not in raw:
        bare = urlsplit(f"//{raw}").hostname or ""
        raw = f"{'http' if is_loopback_host(bare) else 'https'}://{raw}"
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"HubSpot base URL must use https (got scheme {scheme!r}).")
    if parts.username or parts.password:
        raise ValueError(
            "HubSpot base URL must not contain credentials; put the token in the Connection password."
        )
    hostname = parts.hostname
    if not hostname:
        raise ValueError("HubSpot base URL has no host name; use e.g. https://api.hubapi.com.")
    if scheme == "http" and not is_loopback_host(hostname):
        raise ValueError(
            f"Plain http is refused for the non-loopback host {hostname!r}: the token would travel "
            "unencrypted. Use https:// (http is only allowed for 127.0.0.0/8, ::1 and localhost)."
        )
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    return f"{scheme}://{netloc}{path}"


@dataclass(frozen=True)
class ClientConfig:
    """Validated settings of :class:`~hubspot_events_provider.core.http.client.HubSpotClient`.

    :param base_url: HubSpot API base URL (see :func:`normalize_base_url`).
    :param api_version: Marketing Events API version: ``2026-03``, ``2026-09`` or ``v3``.
    :param connect_timeout: seconds to wait for the TCP/TLS connection.
    :param read_timeout: seconds to wait for HubSpot's answer.
    :param max_requests_per_10s: the app's burst budget per rate window (100, 190 or 250 at HubSpot).
    :param rate_window_s: length of HubSpot's rolling window; 10 s at HubSpot (shorter for benchmarks).
    :param max_retries: retries of one request after the first attempt.
    :param max_retry_time: seconds one request may spend, retries and waits included.
    :param backoff_base: first backoff step in seconds (doubles per attempt, with jitter).
    :param backoff_cap: longest single backoff in seconds.
    :param pool_size: HTTP connections kept per host (at least the number of sending threads).
    :param budget_sharers: how many tasks share the app's rate budget at once (e.g. the mapped
        partitions of one upsert), handed to the default limiter as its ``sharers``; ``None``: not
        known here (the limiter learns it from HubSpot's rate-limit headers).
    :param budget_store: a Redis URL (``redis://[:password@]host:port/db``, ``rediss://`` for TLS,
        ``unix://``) where every task of the app takes a slot in one rolling window before each
        request; ``None``: each task limits itself. Left out of ``repr`` (it may hold a password).
    :param budget_key: the name of the shared budget in the store; ``None``: derived from the host
        and a digest of the credential (tasks with the same key share one budget).
    """

    base_url: str = DEFAULT_BASE_URL
    api_version: str = DEFAULT_API_VERSION
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_requests_per_10s: int = 100
    rate_window_s: float = 10.0
    max_retries: int = 6
    max_retry_time: float = 300.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    pool_size: int = 32
    budget_sharers: int | None = None
    budget_store: str | None = field(default=None, repr=False)
    budget_key: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        if self.api_version not in API_PREFIXES:
            raise ValueError(
                f"Unsupported HubSpot api_version {self.api_version!r}; use one of {', '.join(API_PREFIXES)}."
            )
        positive = {
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "rate_window_s": self.rate_window_s,
            "max_retry_time": self.max_retry_time,
            "backoff_base": self.backoff_base,
            "backoff_cap": self.backoff_cap,
        }
        for name, value in positive.items():
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}.")
        for name, ivalue, minimum in (
            ("max_requests_per_10s", self.max_requests_per_10s, 1),
            ("max_retries", self.max_retries, 0),
            ("pool_size", self.pool_size, 1),
        ):
            if isinstance(ivalue, bool) or not isinstance(ivalue, int) or ivalue < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {ivalue!r}.")
        sharers = self.budget_sharers
        if sharers is not None and (isinstance(sharers, bool) or not isinstance(sharers, int) or sharers < 1):
            raise ValueError(
                f"budget_sharers must be an integer >= 1 (how many tasks share the app's rate budget "
                f"at once) or empty, got {sharers!r}."
            )
        _check_budget_store(self.budget_store)

    @property
    def store_url(self) -> str | None:
        """The ``budget_store`` URL fit for a log (password hidden), ``None`` without a store."""
        return redact_store_url(self.budget_store) if self.budget_store else None

    @property
    def api_prefix(self) -> str:
        """Path prefix of the Marketing Events API for :attr:`api_version`."""
        return API_PREFIXES[self.api_version]

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` timeout tuple for ``requests``."""
        return (self.connect_timeout, self.read_timeout)


def _check_budget_store(url: str | None) -> None:
    """Refuse a ``budget_store`` that is not a Redis URL, naming it without its password."""
    if url is None:
        return
    if not isinstance(url, str) or not url.strip():
        raise ValueError("budget_store must be a Redis URL such as redis://:password@host:6379/0 or empty.")
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in SCHEMES:
        raise ValueError(
            f"budget_store must be a redis://, rediss:// or unix:// URL, not {redact_store_url(url)} "
            "(e.g. redis://:password@redis-host:6379/0, the Celery broker's Redis)."
        )


@dataclass(frozen=True)
class Knob:
    """One non-secret client setting a Connection extra (or a hook argument) may set.

    :param name: the extra's key in the Connection and the hook argument (``timeout``).
    :param field: the :class:`ClientConfig` field it sets (``read_timeout``).
    :param kind: ``int``, ``float`` or ``str``.
    :param label: the connection form's label.
    :param description: the connection form's help text.
    :param minimum: the form's lowest accepted value (numbers only).
    :param aliases: other accepted keys and argument names (``read_timeout``).
    :param choices: accepted values (strings only).
    """

    name: str
    field: str
    kind: type[int] | type[float] | type[str]
    label: str
    description: str
    minimum: float | None = None
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()

    @property
    def default(self) -> Any:
        """The :class:`ClientConfig` default of :attr:`field`."""
        return ClientConfig.__dataclass_fields__[self.field].default

    def conn_field(self) -> dict[str, Any]:
        """This knob as a provider-info ``conn-fields`` entry (a JSON-schema-like field)."""
        json_type = {int: "integer", float: "number", str: "string"}[self.kind]
        schema: dict[str, Any] = {"type": [json_type, "null"]}
        if self.choices:
            schema["enum"] = [*self.choices, None]
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.default is not None:  # no default: the form's field starts empty
            schema["default"] = self.default
        return {"label": self.label, "description": self.description, "schema": schema}


#: The one list of connection knobs: ``ClientConfig`` (every field but ``base_url``, which comes
#: from the Connection's host), the hook's ``build_config`` and overridable arguments, and the
#: provider info's ``conn-fields`` are all derived from it (``tests/hooks`` holds them equal).
CONNECTION_KNOBS: tuple[Knob, ...] = (
    Knob(
        "api_version",
        "api_version",
        str,
        "API version",
        "Marketing Events API version: 2026-03 (default), 2026-09 or v3.",
        choices=tuple(API_PREFIXES),
    ),
    Knob(
        "max_requests_per_10s",
        "max_requests_per_10s",
        int,
        "Requests per 10 s (app budget)",
        "HubSpot burst budget of the app: 100 (Free/Starter), 190 (Pro/Enterprise), 250 (API pack).",
        minimum=1,
    ),
    Knob(
        "timeout",
        "read_timeout",
        float,
        "Read timeout (s)",
        "Seconds to wait for HubSpot's answer to one request.",
        minimum=1,
        aliases=("read_timeout",),
    ),
    Knob(
        "connect_timeout",
        "connect_timeout",
        float,
        "Connect timeout (s)",
        "Seconds to wait for the TCP/TLS connection to HubSpot.",
        minimum=1,
    ),
    Knob(
        "max_retries",
        "max_retries",
        int,
        "Max retries per request",
        "Retries of 429 (secondly), 5xx and connection errors; 400/401/403/404 never retry.",
        minimum=0,
    ),
    Knob(
        "max_retry_time",
        "max_retry_time",
        float,
        "Max retry time per request (s)",
        "Upper bound on the time one request may spend, retries and waits included.",
        minimum=1,
    ),
    Knob(
        "backoff_base",
        "backoff_base",
        float,
        "First retry backoff (s)",
        "First backoff step of a retry; doubles per attempt with jitter, up to backoff_cap.",
        minimum=0,
    ),
    Knob(
        "backoff_cap",
        "backoff_cap",
        float,
        "Longest retry backoff (s)",
        "Longest single wait between two retries.",
        minimum=0,
    ),
    Knob(
        "rate_window_s",
        "rate_window_s",
        float,
        "Rate window (s)",
        "Length of HubSpot's rolling rate window: 10 at HubSpot; change it only for a local sandbox.",
        minimum=0,
    ),
    Knob(
        "pool_size",
        "pool_size",
        int,
        "HTTP connections kept open",
        "Connections kept per host; at least the number of batches in flight.",
        minimum=1,
    ),
    Knob(
        "budget_sharers",
        "budget_sharers",
        int,
        "Tasks sharing the budget",
        "How many tasks call HubSpot with this app's budget at once, e.g. the mapped partitions "
        "running on one app. Empty: detected for mapped tasks, else learnt from HubSpot's "
        "rate-limit headers.",
        minimum=1,
    ),
    Knob(
        "budget_store",
        "budget_store",
        str,
        "Shared rate budget store (Redis URL)",
        "redis://[:password@]host:port/db (rediss:// for TLS): every task of every worker on this "
        "app takes a slot in one rolling window kept there, e.g. the Celery broker's Redis. Empty: "
        "each task limits itself. Needs the [redis] extra; a store down falls back to the local limiter.",
    ),
    Knob(
        "budget_key",
        "budget_key",
        str,
        "Shared rate budget name",
        "Name of the app's budget in the store. Empty: derived from the host and a digest of the "
        "token (OAuth: client id and refresh token); give the same name to connections of one app.",
    ),
)


def knob_names() -> frozenset[str]:
    """Every key and argument name a knob accepts, aliases included."""
    return frozenset(name for knob in CONNECTION_KNOBS for name in (knob.name, *knob.aliases))
