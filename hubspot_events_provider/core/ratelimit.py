"""Client-side rate limiting for HubSpot's rolling burst window, shared by all threads of a task.

:class:`RollingWindowLimiter` keeps the send times of recent requests and lets a request go only
when every span of ``window_s`` seconds holds at most the (slightly reduced) budget. It also reads
the ``X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds`` headers of every answer
(:meth:`~RollingWindowLimiter.observe`): when the remaining budget runs low because other
processes or apps spend the same budget, it paces requests and lowers its own share (additive
increase, multiplicative decrease). After a 429 ``TEN_SECONDLY_ROLLING``
(:meth:`~RollingWindowLimiter.penalize`) every thread waits until the window has passed.
Clock and sleep are injectable so tests run without real waiting.
"""

from __future__ import annotations

import collections
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["RateLimitStatus", "RollingWindowLimiter"]

HEADER_MAX = "X-HubSpot-RateLimit-Max"
HEADER_REMAINING = "X-HubSpot-RateLimit-Remaining"
HEADER_INTERVAL = "X-HubSpot-RateLimit-Interval-Milliseconds"


@dataclass(frozen=True)
class RateLimitStatus:
    """The last ``X-HubSpot-RateLimit-*`` values seen.

    :param max: requests allowed per interval (the app's burst budget).
    :param remaining: requests left in the current interval when the answer was sent.
    :param interval_ms: length of the interval in milliseconds.
    :param observed_at: monotonic time the answer was read.
    """

    max: int
    remaining: int
    interval_ms: int
    observed_at: float


def _header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


class RollingWindowLimiter:
    """A thread-safe rolling-window limiter with server feedback.

    :param budget: requests allowed per window (the connection's ``max_requests_per_10s``).
    :param window_s: window length in seconds (10 at HubSpot).
    :param safety_ratio: share of the budget actually used, so clock skew and latency between us
        and HubSpot do not produce 429s.
    :param clock: monotonic clock in seconds.
    :param sleep: sleeps the given seconds.
    :param rng: returns a float in ``[0, 1)``; spreads the end of a 429 pause across processes.
    :param probe: send a single request first and size the burst from HubSpot's headers.
    """

    def __init__(
        self,
        budget: int,
        window_s: float = 10.0,
        *,
        safety_ratio: float = 0.95,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        probe: bool = True,
    ) -> None:
        if budget < 1:
            raise ValueError(f"budget must be >= 1, got {budget!r}.")
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}.")
        self.budget = budget
        self.window_s = window_s
        self._safety_ratio = safety_ratio
        self._cap = float(max(1, math.floor(budget * safety_ratio)))
        self._limit = self._cap
        # Until HubSpot's first rate-limit headers say whether others share the budget, send one
        # probe request at a time (for at most one window, in case the server sends no headers).
        self._probe = probe
        self._probe_until: float | None = None
        self._rng = rng
        self._slack = min(0.25, 0.01 * window_s + 0.005)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sends: collections.deque[float] = collections.deque()
        self._paused_until = 0.0
        self._paced_until = 0.0
        self._next_decrease = 0.0
        self._status: RateLimitStatus | None = None

    @property
    def limit(self) -> int:
        """Requests this limiter currently lets through per window."""
        with self._lock:
            return int(self._limit)

    @property
    def status(self) -> RateLimitStatus | None:
        """The last rate-limit headers seen, if any."""
        with self._lock:
            return self._status

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s - self._slack
        while self._sends and self._sends[0] <= horizon:
            self._sends.popleft()

    def _wait_time(self, now: float) -> float:
        if now < self._paused_until:
            return self._paused_until - now
        if now < self._paced_until:
            return self._paced_until - now
        self._prune(now)
        limit = int(self._limit)
        if self._probe and self._status is None:
            if self._probe_until is None:
                self._probe_until = now + self.window_s
            if now < self._probe_until and self._sends:
                return min(self._probe_until - now, 0.005 + 0.005 * self.window_s)
        if len(self._sends) < limit:
            return 0.0
        blocker = self._sends[len(self._sends) - limit]
        return max(blocker + self.window_s + self._slack - now, 1e-3)

    def acquire(self) -> float:
        """Block until one more request fits in the window, and record it as sent.

        :returns: the seconds spent waiting.
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_time(now)
                if wait <= 0:
                    self._sends.append(now)
                    return waited
            self._sleep(wait)
            waited += wait

    def observe(self, headers: Mapping[str, str]) -> RateLimitStatus | None:
        """Read HubSpot's rate-limit headers from an answer and adapt this limiter's share.

        ``used = Max - Remaining`` is what the whole app spent in the server's window; ``ours`` is
        what this limiter sent in the same span. When nobody else spends the budget, the share is
        the full (reduced) budget. When others do, the share is scaled by ``target / used`` so
        that all limiters doing the same converge on the budget together, and requests are paced
        about ``interval / max`` apart while the remaining budget is low.

        :param headers: the answer's headers (case-insensitive mapping or plain dict); ``{}`` after
            a request that got no answer.
        :returns: the parsed status, or ``None`` when the headers are absent.
        """
        maximum = _header(headers, HEADER_MAX)
        remaining = _header(headers, HEADER_REMAINING)
        interval_ms = _header(headers, HEADER_INTERVAL)
        if maximum is None or remaining is None or maximum <= 0:
            with self._lock:
                self._probe = False  # an answer without headers: nothing to wait for
            return None
        interval_ms = interval_ms if interval_ms and interval_ms > 0 else int(self.window_s * 1000)
        with self._lock:
            now = self._clock()
            status = RateLimitStatus(maximum, remaining, interval_ms, now)
            self._status = status
            interval_s = interval_ms / 1000.0
            target = max(1.0, math.floor(maximum * self._safety_ratio))
            cap = min(self._cap, max(1.0, math.floor(target * self.window_s / interval_s)))
            reserve = max(1, math.ceil(maximum * 0.05))
            self._prune(now)
            ours = sum(1 for t in self._sends if t > now - interval_s)
            used = max(maximum - remaining, 1)
            others = used - ours
            if others <= reserve:
                if now >= self._paused_until:
                    self._limit = cap  # the budget is ours alone
                    self._paced_until = min(self._paced_until, now)
            else:
                fair = ours * target / used
                if used >= target:
                    self._limit = min(self._limit, max(1.0, fair))
                else:
                    self._limit = max(self._limit, fair) + 1.0 / max(self._limit, 1.0)
            self._limit = max(1.0, min(self._limit, cap))
            if others > reserve:
                # Shared budget: spread our share evenly over the window instead of bursting,
                # and slow to the server's own pace while the remaining budget is low.
                spacing = interval_s / self._limit
                if remaining <= reserve:
                    spacing = max(spacing, interval_s / maximum)
                self._paced_until = max(self._paced_until, now + spacing)
            return status

    def penalize(self, retry_after: float | None = None) -> None:
        """After a 429 ``TEN_SECONDLY_ROLLING``: pause every thread and halve this limiter's share.

        :param retry_after: seconds HubSpot asked to wait; the pause lasts at least one window.
        """
        with self._lock:
            now = self._clock()
            pause = max(retry_after or 0.0, self.window_s) * (1.0 + 0.1 * self._rng())
            self._paused_until = max(self._paused_until, now + pause)
            self._paced_until = 0.0  # the pause replaces any pacing
            if now >= self._next_decrease:
                self._limit = max(1.0, self._limit * 0.5)
                self._next_decrease = now + pause
