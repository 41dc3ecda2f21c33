"""The Airflow-free HTTP client of the HubSpot Marketing Events API.

:class:`HubSpotClient` wraps one ``requests.Session`` (connection pool sized for the sending
threads, no urllib3 retries) with the rate limiter (:mod:`.ratelimit`), the retry policy
(:mod:`.retry`) and the typed errors (:mod:`.errors`). One instance is shared by all threads of a
task: the limiter, the statistics and the OAuth token cache are thread-safe. Logs and errors name
the method and path of a request, never its headers, query string or token.
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from hubspot_events_provider import __version__
from hubspot_events_provider.core.auth import Auth
from hubspot_events_provider.core.config import ClientConfig
from hubspot_events_provider.core.errors import (
    HubSpotAuthError,
    HubSpotDailyLimitError,
    HubSpotError,
    HubSpotMissingScopesError,
    HubSpotNotFoundError,
    HubSpotRateLimitError,
    HubSpotServerError,
    HubSpotTransportError,
    HubSpotValidationError,
)
from hubspot_events_provider.core.ratelimit import RateLimitStatus, RollingWindowLimiter
from hubspot_events_provider.core.retry import Failure, backoff_seconds, parse_retry_after, should_retry

__all__ = ["ClientStats", "HubSpotClient", "HubSpotResponse", "error_from_response"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubSpotResponse:
    """A successful answer.

    :param status: HTTP status (200, 201, 204, 207).
    :param body: the parsed JSON body (``{}`` for an empty body).
    :param headers: response headers (HubSpot never echoes credentials in them).
    :param method: HTTP method of the request.
    :param path: URL path of the request, without query string.
    """

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(repr=False)
    method: str
    path: str


class ClientStats:
    """Thread-safe counters of one client: requests sent, retries, 429s received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {"requests": 0, "retries": 0, "rate_limited": 0}

    def add(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name``."""
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + amount

    def snapshot(self) -> dict[str, int]:
        """Return a copy of the counters: ``requests``, ``retries``, ``rate_limited``."""
        with self._lock:
            return dict(self._counts)


def _scopes_from(body: Mapping[str, Any]) -> list[str]:
    scopes: list[str] = []
    for err in body.get("errors") or []:
        context = err.get("context") if isinstance(err, dict) else None
        if isinstance(context, dict):
            for key in ("requiredGranularScopes", "missingScopes", "requiredScopes"):
                value = context.get(key)
                if isinstance(value, list):
                    scopes.extend(str(v) for v in value)
    return sorted(set(scopes))


def error_from_response(
    status: int,
    body: Mapping[str, Any],
    *,
    method: str,
    path: str,
    retry_after: float | None = None,
) -> HubSpotError:
    """Map a failed HubSpot answer to the typed error tree.

    :param status: HTTP status.
    :param body: parsed JSON error body (``{}`` if none).
    :param method: HTTP method of the request.
    :param path: URL path of the request, without query string.
    :param retry_after: seconds from a ``Retry-After`` header, if any.
    """
    category = body.get("category") or body.get("errorType")
    message = str(body.get("message") or f"HubSpot answered HTTP {status}.")
    kwargs: dict[str, Any] = {
        "status": status,
        "category": str(category) if category else None,
        "correlation_id": body.get("correlationId"),
        "method": method,
        "path": path,
        "body": dict(body),
    }
    if status == 401:
        return HubSpotAuthError(f"HubSpot refused the credentials: {message}", **kwargs)
    if status == 403:
        scopes = _scopes_from(body)
        wanted = ", ".join(scopes) if scopes else "crm.objects.marketing_events.read/write"
        return HubSpotMissingScopesError(f"the app lacks a required scope ({wanted}): {message}", **kwargs)
    if status == 404:
        return HubSpotNotFoundError(
            f"not found: {message} (external ids are visible only to the app that created the event)",
            **kwargs,
        )
    if status == 429:
        policy = str(body.get("policyName") or "") or None
        if policy == "DAILY":
            resets_at = None
            if retry_after is not None:
                resets_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + retry_after))
            when = "" if resets_at else " HubSpot did not say when it resets."
            return HubSpotDailyLimitError(
                f"the account's daily API request limit is spent ({message}).{when}",
                policy_name=policy,
                retry_after=retry_after,
                resets_at=resets_at,
                **kwargs,
            )
        return HubSpotRateLimitError(
            f"rate limited ({policy or 'burst limit'}) and the retries ran out: {message}",
            policy_name=policy,
            retry_after=retry_after,
            **kwargs,
        )
    if status >= 500 or status in (423, 477) or 200 <= status < 300:
        return HubSpotServerError(f"HubSpot had a transient problem: {message}", **kwargs)
    return HubSpotValidationError(f"HubSpot refused the request: {message}", **kwargs)


class HubSpotClient:
    """Thread-safe client of the Marketing Events API.

    :param config: validated settings.
    :param auth: credentials (:class:`~.auth.StaticTokenAuth` or :class:`~.auth.OAuthAuth`).
    :param limiter: a shared limiter; by default one sized from ``config``.
    :param sleep: sleeps the given seconds (injectable).
    :param clock: monotonic clock (injectable).
    :param rng: jitter source returning ``[0, 1)`` (injectable).
    """

    def __init__(
        self,
        config: ClientConfig,
        auth: Auth,
        *,
        limiter: RollingWindowLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.auth = auth
        self.limiter = limiter or RollingWindowLimiter(
            config.max_requests_per_10s, config.rate_window_s, clock=clock, sleep=sleep
        )
        self.stats = ClientStats()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=config.pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update(
            {"Accept": "application/json", "User-Agent": f"airflow-provider-hubspot-events/{__version__}"}
        )
        auth.bind(self.session, config.base_url, config.timeout)

    def __repr__(self) -> str:
        return f"HubSpotClient(base_url={self.config.base_url!r}, api_version={self.config.api_version!r})"

    def __enter__(self) -> HubSpotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.session.close()

    @property
    def rate_limit_status(self) -> RateLimitStatus | None:
        """The last ``X-HubSpot-RateLimit-*`` values seen, if any."""
        return self.limiter.status

    # -- Marketing Events API -------------------------------------------------------------------

    def _events_path(self, suffix: str = "") -> str:
        return f"{self.config.api_prefix}{suffix}"

    def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
        """Create or update a batch of events (``POST …/events/upsert``).

        :param inputs: event payloads keyed by ``externalAccountId`` and ``externalEventId``.
        :returns: the 200 or 207 answer; per-row errors are in ``body["errors"]``.
        :raises HubSpotValidationError: on a whole-batch 400 (``.body`` holds HubSpot's answer).
        """
        return self.request("POST", self._events_path("/events/upsert"), json={"inputs": list(inputs)})

    def get_event(self, external_event_id: str, external_account_id: str) -> dict[str, Any]:
        """Read one event by its external ids; raises :class:`HubSpotNotFoundError` on 404."""
        path = self._events_path(f"/events/{quote(external_event_id, safe='')}")
        return self.request("GET", path, params={"externalAccountId": external_account_id}).body

    def search_events(self, external_event_id: str) -> list[dict[str, Any]]:
        """Find this app's events with the given external event id (``GET …/events/search``)."""
        body = self.request("GET", self._events_path("/events/search"), params={"q": external_event_id}).body
        results = body.get("results") or []
        return [r for r in results if isinstance(r, dict)]

    def list_events(self, limit: int = 100, after: str | None = None) -> dict[str, Any]:
        """One page of events (``GET <prefix>?limit=&after=``)."""
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        return self.request("GET", self._events_path(), params=params).body

    def iter_events(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every event of the app, page after page."""
        after: str | None = None
        while True:
            page = self.list_events(limit=page_size, after=after)
            yield from (r for r in page.get("results") or [] if isinstance(r, dict))
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def delete_event(self, external_event_id: str, external_account_id: str) -> None:
        """Delete one event by its external ids (``DELETE …/events/{id}``)."""
        path = self._events_path(f"/events/{quote(external_event_id, safe='')}")
        self.request("DELETE", path, params={"externalAccountId": external_account_id})

    def check_access(self) -> None:
        """Make one idempotent GET (list, ``limit=1``); raise a typed error if it fails."""
        self.list_events(limit=1)

    # -- transport ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> HubSpotResponse:
        """Send one request with rate limiting, retries and typed errors.

        :param method: HTTP method.
        :param path: URL path under the base URL (no query string).
        :param params: query parameters.
        :param json: JSON body.
        :raises HubSpotError: a subclass naming what failed, after the retries allowed.
        """
        deadline = self._clock() + self.config.max_retry_time
        url = f"{self.config.base_url}{path}"
        # Encode the body once, before the limiter lets the request go: the time between
        # ``acquire()`` and the arrival at HubSpot stays short and steady (no serialising under
        # the GIL contention of the other sending threads), and retries send the same bytes.
        data: bytes | None = None
        headers: dict[str, str] = {}
        if json is not None:
            try:
                data = jsonlib.dumps(json, allow_nan=False).encode("utf-8")
            except ValueError as exc:  # NaN or infinity: HubSpot would refuse it anyway
                raise HubSpotValidationError(
                    f"the request body is not valid JSON ({exc}).", method=method, path=path
                ) from None
            headers["Content-Type"] = "application/json"
        attempt = 0
        # Authorization values HubSpot called expired during this call. A refresh is asked for only
        # when the expired token is one this call has not seen rejected before, at most twice: once
        # for the token we started with, once more if a concurrent refresh handed us a token that was
        # already stale. A freshly issued token reported expired again is a hard failure.
        # Kept as hashes: no token may sit in the frame's locals (tracebacks rendered with locals).
        expired_seen: set[int] = set()
        while True:
            self.limiter.acquire()
            status: int | None = None
            body: dict[str, Any] = {}
            failure: Failure | None = None
            error: HubSpotError
            retry_after: float | None = None
            authorization = ""
            try:
                authorization = self.auth.authorization()
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers={**headers, "Authorization": authorization},
                    timeout=self.config.timeout,
                )
            except HubSpotError as exc:  # the OAuth refresh failed
                if isinstance(exc, HubSpotAuthError):
                    raise
                error, failure = exc, Failure.CONNECTION
            except requests.Timeout:
                self.limiter.observe({})
                failure = Failure.TIMEOUT
                error = HubSpotTransportError(
                    f"no answer within {self.config.read_timeout:g} s (timeout).", method=method, path=path
                )
            except requests.RequestException as exc:
                self.limiter.observe({})
                failure = Failure.CONNECTION
                error = HubSpotTransportError(
                    f"the connection failed ({type(exc).__name__}).", method=method, path=path
                )
            else:
                self.stats.add("requests")
                status = resp.status_code
                self.limiter.observe(resp.headers)
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                parsed = self._parse_body(resp)
                if parsed is None:
                    failure = Failure.INVALID_BODY
                    error = HubSpotServerError(
                        f"HubSpot answered HTTP {status} with a body that is not valid JSON (truncated?).",
                        status=status,
                        method=method,
                        path=path,
                    )
                else:
                    body = parsed
                    if 200 <= status < 300:
                        return HubSpotResponse(status, body, resp.headers, method, path)
                    error = error_from_response(
                        status, body, method=method, path=path, retry_after=retry_after
                    )
            decision = should_retry(
                status=None if failure else status,
                category=error.category,
                policy_name=getattr(error, "policy_name", None),
                failure=failure,
                can_refresh_auth=self.auth.refreshable,
                auth_refreshed=hash(authorization) in expired_seen or len(expired_seen) >= 2,
            )
            if decision.refresh_auth:
                log.info("HubSpot access token expired; refreshing it once (%s %s).", method, path)
                expired_seen.add(hash(authorization))
                self.auth.refresh(authorization)
                continue
            if decision.rate_limited:
                self.stats.add("rate_limited")
                self.limiter.penalize(retry_after)
            if not decision.retry:
                authorization = ""  # no token in the frame's locals (tracebacks rendered with locals)
                raise error
            if decision.rate_limited:
                delay = self._rng() * min(self.config.backoff_base, 1.0)
            else:
                delay = backoff_seconds(
                    attempt,
                    retry_after,
                    base=self.config.backoff_base,
                    cap=self.config.backoff_cap,
                    rng=self._rng,
                )
                delay = max(delay, decision.min_wait)
            if attempt >= self.config.max_retries or self._clock() + delay > deadline:
                log.warning(
                    "HubSpot %s %s failed (%s); giving up after %d attempt(s).",
                    method,
                    path,
                    decision.reason,
                    attempt + 1,
                )
                authorization = ""  # no token in the frame's locals (tracebacks rendered with locals)
                raise error
            log.warning(
                "HubSpot %s %s failed (%s); retry %d/%d in %.2f s.",
                method,
                path,
                decision.reason,
                attempt + 1,
                self.config.max_retries,
                delay,
            )
            self.stats.add("retries")
            self._sleep(delay)
            attempt += 1

    @staticmethod
    def _parse_body(resp: requests.Response) -> dict[str, Any] | None:
        """Parse a JSON object body; ``{}`` for an empty or non-JSON error body; ``None`` if a 2xx is bad."""
        ok = 200 <= resp.status_code < 300
        try:
            content = resp.content
        except requests.RequestException:
            return None if ok else {}
        if not content.strip():
            return {}
        try:
            parsed = resp.json()
        except ValueError:
            return None if ok else {}
        if isinstance(parsed, dict):
            return parsed
        return None if ok else {}
