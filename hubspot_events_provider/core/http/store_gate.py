"""The client's door to a shared rate budget store: one slot per request, the local law as fallback.

With ``budget_store`` set, :class:`StoreGate` takes a slot in the app's rolling window kept in
Redis (:class:`~.budget_store.RedisBudgetStore`) before each request leaves. The store counts
every task of the app exactly, so the local limiter's shares, margins and probe are not needed
while it answers; the local limiter still records each send (its law stays current for an outage)
and its pause after a 429 still holds every thread. What the store cannot see, HubSpot's headers
show: ``Max - Remaining`` minus the store's own count when the request was admitted is what
someone outside the store spent, and the gate asks the store for that much less.

When the store is unavailable (down at start, killed, a network cut) :meth:`StoreGate.take`
answers ``False`` at once and the client uses the local limiter; the store warns once per outage
and is asked again after a short back-off.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping

from hubspot_events_provider.core.http.auth import Auth, budget_identity
from hubspot_events_provider.core.http.budget_store import RedisBudgetStore, Verdict, resolve_budget_key
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.core.http.limiter import HEADER_MAX, HEADER_REMAINING, RollingWindowLimiter
from hubspot_events_provider.core.http.limiter_law import DEFAULT_TUNING, initial_slack

__all__ = ["StoreGate", "open_store"]

log = logging.getLogger(__name__)

#: Weight of one answer in the smoothed count of requests spent outside the store.
OUTSIDE_SMOOTHING = 0.2
#: Extra time slack of the grants a task takes in its first window: a task's first requests open
#: their connections while the other tasks start too, and reach HubSpot later after their grant
#: than the steady ones (measured, record 59: up to 50-250 ms against 10-20 ms at most later).
COLD_START_SLACK_S = 0.15


def open_store(config: ClientConfig, auth: Auth) -> RedisBudgetStore | None:
    """The store ``config.budget_store`` names, keyed by ``budget_key`` or the app's credential.

    :returns: ``None`` without a store, or when the ``redis`` package is missing (one warning: a
        store never fails a sync; the local limiter applies).
    """
    if not config.budget_store:
        return None
    key = resolve_budget_key(config.base_url, budget_identity(auth), config.budget_key)
    try:
        return RedisBudgetStore(
            config.budget_store,
            key=key,
            budget=config.max_requests_per_10s,
            window_s=config.rate_window_s,
            log=log,
        )
    except ImportError as exc:
        log.warning("Rate budget store %s not used: %s; using the local rate limiter", config.store_url, exc)
        return None


class StoreGate:
    """Takes a slot in the shared store before each request; thread-safe, one per client.

    :param store: the shared budget.
    :param limiter: the client's local limiter (records each send, holds the pause after a 429).
    :param sleep: sleeps the given seconds (injectable).
    :param clock: monotonic clock (injectable).
    """

    def __init__(
        self,
        store: RedisBudgetStore,
        limiter: RollingWindowLimiter,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._limiter = limiter
        self._sleep = sleep
        # One thread per process waits in the store's queue at a time: the queue serves the tasks
        # in turn, so each gets an equal share whatever its number of threads.
        self._turn = threading.Lock()
        self._state = threading.Lock()
        self._outside = 0.0  # smoothed requests spent outside the store in a window
        self._max: int | None = None  # HubSpot's Max, once seen
        self._local = threading.local()
        # A grant counts for the window plus a time slack: the jitter between the grant and the
        # arrival at HubSpot (threads, the GIL, a loaded machine, a new connection) would else put
        # a request in a window HubSpot already filled. It starts at the local law's slack, plus
        # COLD_START_SLACK_S in the task's first window, and widens after each 429 (up to the law's
        # ``max_slack``), narrowing again after calm windows.
        self._base_slack = initial_slack(DEFAULT_TUNING, store.window_s)
        self._slack = self._base_slack
        self._slack_at = 0.0
        self._clock = clock
        self._warm_at: float | None = None  # the end of the task's first window

    @property
    def outside(self) -> float:
        """Requests per window that HubSpot's headers show spent outside the store (smoothed)."""
        with self._state:
            return self._outside

    @property
    def slack(self) -> float:
        """Seconds a grant counts beyond the window (narrowed again after calm windows)."""
        with self._state:
            calm = DEFAULT_TUNING.slack_calm_windows * self.store.window_s
            if self._slack > self._base_slack and self._clock() - self._slack_at > calm:
                self._slack = max(self._base_slack, self._slack / DEFAULT_TUNING.slack_growth)
                self._slack_at = self._clock()
            return self._slack

    def budget(self) -> int:
        """The budget to ask the store for: the app's, less what others outside the store spend."""
        with self._state:
            maximum = self.store.budget if self._max is None else min(self._max, self.store.budget)
            # Below one request of noise is the count of arrivals at the window's edges, not a user.
            return max(1, maximum - max(0, math.floor(self._outside - 0.5)))

    def take(self) -> bool:
        """Wait for a slot of the shared budget and record the send with the local limiter.

        The request waits in the store's queue (one ticket, kept until admitted), where the task
        served the fewest requests goes first: tasks sharing the budget get equal shares.

        :returns: ``True`` once the store admitted the request; ``False`` when the store is
            unavailable (the caller then uses the local limiter).
        """
        with self._turn:
            ticket = self.store.new_ticket()
            while True:
                pause = self._limiter.pause_left()
                if pause > 0:  # HubSpot answered 429: the local law's pause holds every thread
                    self._sleep(pause)
                    continue
                answer = self.store.acquire(self.budget(), slack_s=self.grant_slack(), ticket=ticket)
                if answer.verdict is Verdict.ADMITTED:
                    self._limiter.record()
                    self._local.used = answer.used
                    return True
                if answer.verdict is Verdict.UNAVAILABLE:
                    self._local.used = None
                    return False
                self._sleep(answer.wait_s)

    def grant_slack(self) -> float:
        """The slack of a grant taken now: :attr:`slack`, plus the cold start's in the first window."""
        now = self._clock()
        if self._warm_at is None:
            self._warm_at = now + self.store.window_s
        return self.slack + (COLD_START_SLACK_S if now < self._warm_at else 0.0)

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Compare an answer's ``Max - Remaining`` with the store's count when it was admitted.

        Call it from the thread that sent the request. A 429 says nothing about others (the local
        law pauses for it); an answer to a request the store did not admit is not compared.
        """
        used: int | None = getattr(self._local, "used", None)
        self._local.used = None
        maximum, remaining = _int(headers, HEADER_MAX), _int(headers, HEADER_REMAINING)
        if used is not None and status == 429:
            self._widen_slack()
        if used is None or status == 429 or maximum is None or remaining is None or maximum <= 0:
            return
        sample = max(0, maximum - remaining - used)
        with self._state:
            self._max = maximum
            self._outside += OUTSIDE_SMOOTHING * (sample - self._outside)

    def _widen_slack(self) -> None:
        """A 429 on a request the store admitted: the grants' jitter is wider than the slack."""
        with self._state:
            top = DEFAULT_TUNING.max_slack * self.store.window_s
            self._slack = min(top, self._slack * DEFAULT_TUNING.slack_growth)
            self._slack_at = self._clock()

    def close(self) -> None:
        """Close the store's connections."""
        self.store.close()


def _int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    try:
        return None if value is None else int(float(value))
    except ValueError:
        return None
