"""Credentials for the HubSpot client: a static Bearer token, or OAuth 2.0 with refresh.

:class:`StaticTokenAuth` sends a private app token or Service Key. :class:`OAuthAuth` exchanges a
refresh token for an access token (form-encoded ``POST /oauth/v3/token`` by default), caches it
until shortly before ``expires_in``, refreshes one thread at a time, and refreshes again once when
HubSpot answers 401 ``EXPIRED_AUTHENTICATION``. ``repr()`` of either never shows a secret, and no
error raised here contains one.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from hubspot_events_provider.core.errors import (
    HubSpotAuthError,
    HubSpotError,
    HubSpotServerError,
    HubSpotTransportError,
    transport_cause,
)

__all__ = ["Auth", "OAuthAuth", "StaticTokenAuth", "budget_identity"]

DEFAULT_OAUTH_TOKEN_PATH = "/oauth/v3/token"  # noqa: S105 (a URL path, not a secret)
_TOKEN_PATH = re.compile(r"/?[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*")


def _digest(kind: str, credential: str) -> str:
    """A SHA-256 hex digest of ``credential``: tells apps apart, useless to call HubSpot with."""
    return f"{kind}:{hashlib.sha256(credential.encode('utf-8')).hexdigest()}"


def budget_identity(auth: Auth) -> str:
    """What identifies the rate budget of ``auth``'s app (a digest; ``""`` for other credentials).

    :param auth: the client's credentials; :class:`StaticTokenAuth` and :class:`OAuthAuth` carry a
        ``budget_identity`` digest, any other implementation may.
    """
    return str(getattr(auth, "budget_identity", ""))


class Auth(Protocol):
    """What :class:`~hubspot_events_provider.core.http.client.HubSpotClient` needs from credentials."""

    #: Whether :meth:`refresh` can produce a new token (OAuth) or not (static token).
    refreshable: bool

    def bind(self, session: requests.Session, base_url: str, timeout: tuple[float, float]) -> None:
        """Give the credentials the client's HTTP session, base URL and timeouts."""

    def authorization(self) -> str:
        """Return the ``Authorization`` header value for the next request."""

    def refresh(self, rejected: str) -> None:
        """Replace the token ``rejected`` (an ``authorization()`` value HubSpot said is expired)."""


class StaticTokenAuth:
    """A static Bearer token: a private app access token or a Service Key.

    :param token: the token (the Airflow Connection password).
    """

    refreshable = False

    def __init__(self, token: str) -> None:
        if not token or not token.strip():
            raise ValueError("The HubSpot access token is empty; set it as the Connection password.")
        self._header = f"Bearer {token.strip()}"
        #: What names the app's rate budget: a digest of the token, never the token itself.
        self.budget_identity = _digest("token", token.strip())

    def bind(self, session: requests.Session, base_url: str, timeout: tuple[float, float]) -> None:
        """Nothing to bind: a static token needs no HTTP calls."""

    def authorization(self) -> str:
        """Return ``Bearer <token>``."""
        return self._header

    def refresh(self, rejected: str) -> None:
        """A static token cannot be refreshed."""
        raise HubSpotAuthError("a static access token cannot be refreshed.", status=401)

    def __repr__(self) -> str:
        return "StaticTokenAuth(token=***)"


class OAuthAuth:
    """OAuth 2.0 refresh-token credentials with a cached, thread-safe access token.

    :param client_id: the app's client ID.
    :param client_secret: the app's client secret.
    :param refresh_token: the installation's refresh token.
    :param token_path: token endpoint path on the client's base URL (``/oauth/v3/token``; also
        ``/oauth/2026-03/token`` or ``/oauth/v1/token``).
    :param on_new_token: called with every new access token (e.g. to register it with Airflow's
        secrets masker).
    :param early_refresh_s: refresh this long before expiry, at most 10 % of ``expires_in``.
    :param clock: monotonic clock in seconds (injectable).
    """

    refreshable = True

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        token_path: str = DEFAULT_OAUTH_TOKEN_PATH,
        on_new_token: Callable[[str], None] | None = None,
        early_refresh_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        missing = [
            name
            for name, value in (
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("refresh_token", refresh_token),
            )
            if not value
        ]
        if missing:
            raise ValueError(
                f"OAuth needs {', '.join(missing)} in the Connection extras (auth_type 'oauth')."
            )
        if not _TOKEN_PATH.fullmatch(token_path or ""):
            # ``***`` is what Airflow's UI saves for a field it masked: never send a request there.
            raise ValueError(
                f"the OAuth endpoint path must be a URL path such as {DEFAULT_OAUTH_TOKEN_PATH}, "
                f"got {token_path!r}."
            )
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        # The budget is per app and installation: the client id and the refresh token we started
        # with name it (never the access token, which rotates every few hours).
        self.budget_identity = _digest("oauth", f"{client_id}\n{refresh_token}")
        self.token_path = "/" + token_path.lstrip("/")
        self._on_new_token = on_new_token
        self._early_refresh_s = early_refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._header: str | None = None
        self._expires_at = 0.0
        self._session: requests.Session | None = None
        self._base_url = ""
        self._timeout: tuple[float, float] = (10.0, 60.0)
        #: Number of successful token refreshes (for tests and logs).
        self.refresh_count = 0

    def __repr__(self) -> str:
        return (
            f"OAuthAuth(client_id={self.client_id!r}, token_path={self.token_path!r}, "
            "client_secret=***, refresh_token=***)"
        )

    def bind(self, session: requests.Session, base_url: str, timeout: tuple[float, float]) -> None:
        """Use the client's session, base URL and timeouts for token requests."""
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout

    def authorization(self) -> str:
        """Return ``Bearer <access token>``, refreshing first when it is missing or about to expire."""
        with self._lock:
            if self._header is None or self._clock() >= self._expires_at:
                self._fetch()
            assert self._header is not None
            return self._header

    def refresh(self, rejected: str) -> None:
        """Refresh after HubSpot said ``rejected`` has expired, unless another thread already did.

        :param rejected: the ``Authorization`` value that HubSpot refused.
        """
        with self._lock:
            if self._header == rejected or self._header is None:
                self._fetch()

    def _fetch(self) -> None:
        method, path = "POST", self.token_path
        session = self._session or requests.Session()
        try:
            # The form is built inline, not in a local, so no traceback rendered with locals shows it.
            resp = session.post(
                f"{self._base_url}{path}",
                data={
                    "grant_type": "refresh_token",
                    "client_id": self.client_id,
                    "client_secret": self._client_secret,
                    "refresh_token": self._refresh_token,
                },
                headers={"Accept": "application/json"},
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            host = urlsplit(self._base_url).netloc
            raise HubSpotTransportError(
                f"the OAuth token endpoint at {host} could not be reached: {transport_cause(exc)} "
                f"({type(exc).__name__}).",
                method=method,
                path=path,
            ) from exc
        body = _json_or_empty(resp)
        if resp.status_code != 200 or not isinstance(body.get("access_token"), str):
            raise _token_error(resp.status_code, body, method, path)
        token = body["access_token"]
        try:
            expires_in = float(body.get("expires_in", 1800))
        except (TypeError, ValueError):
            expires_in = 1800.0
        margin = min(self._early_refresh_s, expires_in * 0.1)
        self._header = f"Bearer {token}"
        self._expires_at = self._clock() + max(expires_in - margin, 0.0)
        new_refresh = body.get("refresh_token")
        if isinstance(new_refresh, str) and new_refresh:
            self._refresh_token = new_refresh
        self.refresh_count += 1
        if self._on_new_token is not None:
            self._on_new_token(token)


def _json_or_empty(resp: requests.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except (ValueError, json.JSONDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _token_error(status: int, body: dict[str, Any], method: str, path: str) -> HubSpotError:
    code = body.get("error") or body.get("status")
    detail = body.get("error_description") or body.get("message") or "no details given"
    kwargs: dict[str, Any] = {
        "status": status,
        "category": str(code) if code else None,
        "correlation_id": body.get("correlationId"),
        "method": method,
        "path": path,
    }
    if status >= 500 or status in (423, 429):
        return HubSpotServerError(f"the OAuth token endpoint failed: {detail}", **kwargs)
    return HubSpotAuthError(
        f"the OAuth token refresh was refused ({code or 'no error code'}): {detail}", **kwargs
    )
