"""The Airflow-free HTTP client of the HubSpot Marketing Events API.

:class:`HubSpotClient` wraps one ``requests.Session`` (connection pool sized for the sending
threads, no urllib3 retries) with the rate limiter (:mod:`.limiter`), the retry policy
(:mod:`.retry`) and the typed errors of the answers (:mod:`.answers`). One instance is shared by
all threads of a task: the limiter, the statistics and the OAuth token cache are thread-safe. Logs
and errors name the method and path of a request, never its headers, query string or token.
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from hubspot_events_provider import __version__
from hubspot_events_provider.core.errors import (
    HubSpotAuthError,
    HubSpotError,
    HubSpotRateLimitError,
    HubSpotServerError,
    HubSpotTransportError,
    HubSpotValidationError,
    transport_cause,
)
from hubspot_events_provider.core.http.answers import (
    ClientStats,
    HubSpotResponse,
    error_from_response,
)
from hubspot_events_provider.core.http.auth import Auth
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.core.http.limiter import RateLimitStatus, RollingWindowLimiter
from hubspot_events_provider.core.http.retry import (
    Failure,
    RetryDecision,
    parse_retry_after,
    retry_delay,
    should_retry,
)
from hubspot_events_provider.core.http.store_gate import StoreGate, open_store

__all__ = ["ClientStats", "HubSpotClient", "HubSpotResponse"]

log = logging.getLogger(__name__)


class HubSpotClient:
    """Thread-safe client of the Marketing Events API.

    :param config: validated settings.
    :param auth: credentials (:class:`~.auth.StaticTokenAuth` or :class:`~.auth.OAuthAuth`).
    :param limiter: a shared limiter; by default one sized from ``config``.
    :param sleep: sleeps the given seconds (injectable).
    :param clock: monotonic clock (injectable).
    :param rng: jitter source returning ``[0, 1)`` (injectable).

    With ``config.budget_store`` set, the client opens one shared budget store (closed by
    :meth:`close`) and takes a slot there before each request leaves
    (:mod:`~hubspot_events_provider.core.http.store_gate`); the local limiter takes over whenever the
    store is unavailable.
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
            config.max_requests_per_10s,
            config.rate_window_s,
            clock=clock,
            sleep=sleep,
            sharers=config.budget_sharers,
        )
        store = open_store(config, auth)
        #: The shared budget store's gate, ``None`` without ``budget_store``.
        self.budget_gate = StoreGate(store, self.limiter, sleep=sleep, clock=clock) if store else None
        self.stats = ClientStats()
        self._quiet_until = 0.0  # no limiter-wait log line before this clock time
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
        """Close the HTTP connection pool and the shared budget store's connections."""
        self.session.close()
        if self.budget_gate is not None:
            self.budget_gate.close()

    @property
    def rate_limit_status(self) -> RateLimitStatus | None:
        """The last ``X-HubSpot-RateLimit-*`` values seen, if any."""
        return self.limiter.status

    def expect_requests(self, total: int) -> None:
        """Tell the rate limiter how many requests the current run sends in all (those sent included).

        A hint that lets a short run skip the limiter's start probe
        (:meth:`~hubspot_events_provider.core.http.limiter.RollingWindowLimiter.expect`); the write
        pipeline calls it once it knows its batch count.

        :param total: the run's requests.
        """
        self.limiter.expect(total)

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
    #
    # request() -> _send_once() (limiter, credentials, one HTTP exchange) -> _read_answer()
    # (statistics, limiter feedback, typed error); request() asks the retry policy what to do
    # with a failed attempt: refresh the OAuth token, sleep and retry, or give up.

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
        call = _Call(
            method, path, params, _encode(json, method, path), self._clock() + self.config.max_retry_time
        )
        # Hashes of the Authorization values HubSpot called expired during this call (no token in
        # the frame's locals: tracebacks may be rendered with locals).
        expired_seen: set[int] = set()
        attempt = 0
        while True:
            outcome = self._send_once(call)
            if isinstance(outcome, HubSpotResponse):
                return outcome
            decision = self._decide(outcome, expired_seen)
            if decision.refresh_auth:
                log.info("HubSpot access token expired; refreshing it once (%s %s).", method, path)
                expired_seen.add(hash(outcome.authorization))
                self.auth.refresh(outcome.forget_authorization())
                continue
            delay = self._delay_or_give_up(call, outcome, decision, attempt)
            self.stats.add("retries")
            self._sleep(delay)
            attempt += 1

    def _send_once(self, call: _Call) -> HubSpotResponse | _Failed:
        """One attempt: wait for the limiter, add the credentials, send, read the answer."""
        self._wait_for_limiter(call)
        authorization = ""
        try:
            authorization = self.auth.authorization()
            resp = self.session.request(
                call.method,
                f"{self.config.base_url}{call.path}",
                params=call.params,
                data=call.data,
                headers={**call.headers, "Authorization": authorization},
                timeout=self.config.timeout,
            )
        except HubSpotAuthError:  # the OAuth refresh was refused: no retry can help
            raise
        except HubSpotError as exc:  # the OAuth token endpoint failed or was unreachable
            return _Failed(exc, Failure.CONNECTION)
        except requests.RequestException as exc:
            self.limiter.observe({})
            return self._transport_failure(call, exc)
        return self._read_answer(call, resp, authorization)

    def _transport_failure(self, call: _Call, exc: requests.RequestException) -> _Failed:
        """No answer: name the host and the cause (resolution, refused, TLS, timeout...)."""
        host = urlsplit(self.config.base_url).netloc
        cause = transport_cause(exc)
        if cause == "read timeout":
            text = f"no answer from {host} within {self.config.read_timeout:g} s (read timeout)."
        elif cause == "connect timeout":
            text = f"could not connect to {host} within {self.config.connect_timeout:g} s (connect timeout)."
        else:
            text = f"connection failed to {host}: {cause} ({type(exc).__name__})."
        failure = Failure.TIMEOUT if isinstance(exc, requests.Timeout) else Failure.CONNECTION
        return _Failed(HubSpotTransportError(text, method=call.method, path=call.path), failure)

    def _read_answer(
        self, call: _Call, resp: requests.Response, authorization: str
    ) -> HubSpotResponse | _Failed:
        """Count the answer, feed its rate-limit headers to the limiter, type a failure."""
        self.stats.add("requests")
        status = resp.status_code
        self.limiter.observe(resp.headers)
        if self.budget_gate is not None:
            self.budget_gate.observe(status, resp.headers)
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        body = parse_body(resp)
        if body is None:
            error: HubSpotError = HubSpotServerError(
                f"HubSpot answered HTTP {status} with a body that is not valid JSON (truncated?).",
                status=status,
                method=call.method,
                path=call.path,
            )
            return _Failed(error, Failure.INVALID_BODY, status, retry_after, authorization)
        if 200 <= status < 300:
            return HubSpotResponse(status, body, resp.headers, call.method, call.path)
        error = error_from_response(status, body, method=call.method, path=call.path, retry_after=retry_after)
        return _Failed(error, None, status, retry_after, authorization)

    def _decide(self, outcome: _Failed, expired_seen: set[int]) -> RetryDecision:
        """The retry policy's verdict; a secondly 429 also pauses the limiter (every thread)."""
        decision = should_retry(
            status=None if outcome.failure else outcome.status,
            category=outcome.error.category,
            policy_name=_policy_name(outcome.error),
            failure=outcome.failure,
            can_refresh_auth=self.auth.refreshable,
            # At most two refreshes: one for the token we started with, one more if a concurrent
            # refresh handed us a token that was already stale.
            auth_refreshed=hash(outcome.authorization) in expired_seen or len(expired_seen) >= 2,
        )
        if decision.rate_limited:
            self.stats.add("rate_limited")
            self.limiter.penalize(outcome.retry_after)
        return decision

    def _delay_or_give_up(
        self, call: _Call, outcome: _Failed, decision: RetryDecision, attempt: int
    ) -> float:
        """The sleep before the next attempt (logged), or raise the error when no retry is left."""
        outcome.forget_authorization()
        if not decision.retry:
            raise outcome.error
        delay = retry_delay(
            decision,
            attempt,
            outcome.retry_after,
            base=self.config.backoff_base,
            cap=self.config.backoff_cap,
            rng=self._rng,
        )
        if attempt >= self.config.max_retries or self._clock() + delay > call.deadline:
            log.warning(
                "HubSpot %s %s failed (%s); giving up after %d attempt(s).",
                call.method,
                call.path,
                decision.reason,
                attempt + 1,
            )
            raise outcome.error
        log.warning(
            "HubSpot %s %s failed (%s); retry %d/%d in %.2f s%s.",
            call.method,
            call.path,
            decision.reason,
            attempt + 1,
            self.config.max_retries,
            delay,
            ", then the rate limiter's pause" if decision.rate_limited else "",
        )
        return delay

    def _wait_for_limiter(self, call: _Call) -> None:
        """Take a slot of the shared store, or of the local rate limiter when there is none (or it
        is unavailable); say what the task waits for when it waits long."""
        if self.budget_gate is not None and self.budget_gate.take():
            return
        if self.limiter.try_acquire() <= 0:
            return
        wait = self.limiter.expected_wait()
        now = self._clock()
        if wait >= LONG_WAIT_S and now >= self._quiet_until:
            # One line per pause, not one per waiting thread.
            self._quiet_until = now + wait
            log.info(
                "HubSpot %s %s: waiting %.1f s for the rate limiter (%d requests per %g s%s).",
                call.method,
                call.path,
                wait,
                self.limiter.limit,
                self.limiter.window_s,
                "; HubSpot answered 429" if self.stats.snapshot().get("rate_limited") else "",
            )
        self.limiter.acquire()


#: Limiter waits at least this long are logged (shorter ones are the normal pacing).
LONG_WAIT_S = 1.0


@dataclass(frozen=True)
class _Call:
    """What stays the same across the attempts of one request."""

    method: str
    path: str
    params: Mapping[str, Any] | None
    data: bytes | None
    deadline: float

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json"} if self.data is not None else {}


@dataclass
class _Failed:
    """An attempt that did not succeed: the typed error and what the retry policy needs."""

    error: HubSpotError
    failure: Failure | None = None
    status: int | None = None
    retry_after: float | None = None
    #: The Authorization value sent, to refresh exactly that token; cleared before raising.
    authorization: str = field(default="", repr=False)

    def forget_authorization(self) -> str:
        """Return the Authorization value sent and drop it (no token kept in frames)."""
        value, self.authorization = self.authorization, ""
        return value


def _policy_name(error: HubSpotError) -> str | None:
    """HubSpot's ``policyName`` of a 429 (``None`` for any other error)."""
    return error.policy_name if isinstance(error, HubSpotRateLimitError) else None


def _encode(json: Any, method: str, path: str) -> bytes | None:
    """Encode the body once, before the limiter lets the request go.

    The time between ``acquire()`` and the arrival at HubSpot stays short and steady (no
    serialising under the GIL contention of the other sending threads), and retries send the
    same bytes.
    """
    if json is None:
        return None
    try:
        return jsonlib.dumps(json, allow_nan=False).encode("utf-8")
    except ValueError as exc:  # NaN or infinity: HubSpot would refuse it anyway
        raise HubSpotValidationError(
            f"the request body is not valid JSON ({exc}).", method=method, path=path
        ) from None


def parse_body(resp: requests.Response) -> dict[str, Any] | None:
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
