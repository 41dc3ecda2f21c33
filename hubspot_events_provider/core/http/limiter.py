"""Client-side rate limiting for HubSpot's rolling burst window, shared by all threads of a task.

:class:`RollingWindowLimiter` counts this process's sends at acquire time and lets a request go
only when the last ``window_s`` seconds, plus a small time slack, hold fewer than its limit. The
slack (``slack_ratio`` of the window, at least ``min_slack_s``, at most ``max_slack``) covers the
jitter between our clock and the arrival at HubSpot, so a process alone uses the whole budget.

The limit follows HubSpot's ``X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds`` headers,
read on every answer (:meth:`~RollingWindowLimiter.observe`) and compared with our own sends in the
span the server counted. How the limit and the slack react is the pure control law of
:mod:`.limiter_law`; this module keeps the window, the pacing, the threads and the lock. Clock,
sleep and randomness are injectable so tests and the simulation run without waiting.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hubspot_events_provider.core.http.limiter_law import (
    DEFAULT_TUNING,
    LimiterState,
    LimiterTuning,
    Observation,
    after_429,
    control_law,
    initial_slack,
)

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


def _checked_tuning(
    budget: int,
    window_s: float,
    sharers: int | None,
    tuning: LimiterTuning,
    shared_ratio: float | None,
    slack_ratio: float | None,
) -> LimiterTuning:
    """Validate a limiter's arguments and return its tuning with the overrides applied.

    :raises ValueError: an argument is out of range.
    """
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget!r}.")
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0, got {window_s!r}.")
    if sharers is not None and (isinstance(sharers, bool) or not isinstance(sharers, int) or sharers < 1):
        raise ValueError(f"sharers must be an integer >= 1, got {sharers!r}.")
    if shared_ratio is not None:
        tuning = dataclasses.replace(tuning, shared_ratio=shared_ratio)
    if slack_ratio is not None:
        tuning = dataclasses.replace(tuning, slack_ratio=slack_ratio)
    if not 0 <= tuning.slack_ratio <= tuning.max_slack:
        raise ValueError(f"slack_ratio must be between 0 and {tuning.max_slack}, got {tuning.slack_ratio!r}.")
    return tuning


@dataclass(frozen=True)
class _StartSizes:
    """How many requests may leave before the first rate-limit headers.

    :param probe: the probe's size (``probe_share`` of the budget, at least one request).
    :param first_burst: what a run announced as short sends instead of the probe.
    :param short_run: the largest announced run that counts as short.
    """

    probe: int
    first_burst: int
    short_run: int

    @classmethod
    def of(cls, cap: float, tuning: LimiterTuning, *, told: bool) -> _StartSizes:
        """The sizes for a budget of ``cap`` per window.

        A task told its number of sharers keeps the probe as its first burst: it is paced at its
        equal share from its first answer, so a burst gains it nothing, and bursts sent together
        upset the shared law.
        """
        probe = max(1, math.floor(cap * tuning.probe_share))
        first_burst = probe if told else max(probe, math.floor(cap * tuning.first_burst))
        return cls(probe, first_burst, max(first_burst, math.floor(cap * tuning.short_run)))


class _InFlight(threading.local):
    """Per thread: when its request in flight was recorded (``None`` when none is)."""

    sent_at: float | None = None


class RollingWindowLimiter:
    """A thread-safe rolling-window limiter that shares one budget with other processes.

    The window bookkeeping (our send times, pacing) lives here, under a lock; how the limit reacts
    to answers and 429s is :func:`.limiter_law.control_law` and :func:`.limiter_law.after_429`.

    :param budget: requests allowed per window (the connection's ``max_requests_per_10s``).
    :param window_s: window length in seconds (10 at HubSpot).
    :param safety_ratio: share of the budget a process alone may use (the time slack already
        absorbs arrival jitter, so the whole budget by default).
    :param shared_ratio: overrides ``tuning.shared_ratio`` (share of ``Max`` all processes aim at).
    :param clock: monotonic clock in seconds.
    :param sleep: sleeps the given seconds.
    :param rng: returns a float in ``[0, 1)``; spreads the end of a 429 pause across processes.
    :param probe: send ``tuning.probe_share`` of the budget (at least one request) before the first
        rate-limit headers, then ``tuning.start`` of it while the headers show nobody else
        spending it; ``False`` starts at the whole budget.
    :param slack_ratio: overrides ``tuning.slack_ratio`` (initial time slack, fraction of the window).
    :param tuning: the control law's constants.
    :param sharers: how many tasks share the app's budget, when the caller knows it (e.g. the length
        of an Airflow task map with one budget): shares then even out within a few windows and the
        tasks together aim at ``tuning.known_ratio`` of ``Max``. ``None`` (default): unknown, the
        headers alone drive the shares.
    """

    def __init__(
        self,
        budget: int,
        window_s: float = 10.0,
        *,
        safety_ratio: float = 1.0,
        shared_ratio: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        probe: bool = True,
        slack_ratio: float | None = None,
        tuning: LimiterTuning = DEFAULT_TUNING,
        sharers: int | None = None,
    ) -> None:
        tuning = _checked_tuning(budget, window_s, sharers, tuning, shared_ratio, slack_ratio)
        self.budget = budget
        self.window_s = window_s
        self.tuning = tuning
        self._cap = float(max(1, math.floor(budget * safety_ratio)))
        # Until HubSpot's first rate-limit headers say whether others share the budget, send a
        # small probe (for at most one window, in case the server sends no headers).
        self._probe = probe
        self._probe_until: float | None = None
        self._start = _StartSizes.of(self._cap, tuning, told=bool(sharers))
        self._run_total: int | None = None  # the run's requests, when announced (:meth:`expect`)
        start = max(1.0, math.ceil(self._cap * tuning.start)) if probe else self._cap
        self._state = LimiterState(limit=start, slack=initial_slack(tuning, window_s), sharers=sharers or 0)
        self._rng = rng
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        # Threads waiting in :meth:`acquire` (with the real sleep) wake at once when an answer or
        # an announcement may have freed room, instead of at their next periodic check.
        self._wake = threading.Condition(self._lock)
        self._sends: list[float] = []  # our send times, ascending, kept for two windows
        self._local = _InFlight()
        self._next_send = 0.0
        self._status: RateLimitStatus | None = None

    @property
    def limit(self) -> int:
        """Requests this limiter currently lets through per window."""
        with self._lock:
            return int(self._state.limit)

    @property
    def slack(self) -> float:
        """Seconds added to the expiry of our oldest send before its slot is used again."""
        with self._lock:
            return self._state.slack

    @property
    def shared(self) -> bool:
        """Whether others spend the same budget (then requests are paced)."""
        with self._lock:
            return self._state.shared(self._clock())

    @property
    def state(self) -> LimiterState:
        """The control law's current state (a frozen snapshot)."""
        with self._lock:
            return self._state

    @property
    def status(self) -> RateLimitStatus | None:
        """The last rate-limit headers seen, if any."""
        with self._lock:
            return self._status

    def _count_since(self, start: float, end: float) -> int:
        """Our sends in ``(start, end]``."""
        return bisect.bisect_right(self._sends, end) - bisect.bisect_right(self._sends, start)

    def _prune(self, now: float) -> None:
        keep = bisect.bisect_right(self._sends, now - (2 + self.tuning.max_slack) * self.window_s)
        if keep > 64 or keep == len(self._sends):
            del self._sends[:keep]

    def _wait_time(self, now: float) -> float:
        # Wake up at least every 1 % of a window: an answer can raise the limit meanwhile.
        return min(self._full_wait(now), 0.01 * self.window_s)

    def _full_wait(self, now: float) -> float:
        state = self._state
        if now < state.paused_until:
            return state.paused_until - now
        if now < self._next_send:
            return self._next_send - now
        self._prune(now)
        if state.shared(now) and state.sharers > 1:
            # Told N and paced at window / limit, a fractional share needs a count gate of
            # ceil(limit): int() would hold it below its share. (Not told, the law's shares are
            # not unbiased enough for that: int() is a margin.)
            limit = max(1, math.ceil(state.limit - 1e-9))
        else:
            limit = max(1, int(state.limit))
        if self._probe and self._status is None:
            if self._probe_until is None:
                self._probe_until = now + self.window_s
            if now < self._probe_until and len(self._sends) >= self._before_headers():
                return min(self._probe_until - now, 0.005 + 0.005 * self.window_s)
        # Any span of ``window_s`` at HubSpot must hold fewer than ``limit`` of our arrivals; a
        # send's slot is free again ``window_s + slack`` after it left.
        first = bisect.bisect_right(self._sends, now - self.window_s - state.slack)
        if len(self._sends) - first < limit:
            return 0.0
        blocker = self._sends[len(self._sends) - limit]
        return max(blocker + self.window_s + state.slack - now, 1e-3)

    def _before_headers(self) -> int:
        """How many requests may leave before the first rate-limit headers: the probe, or the
        first burst of a run announced as short (:meth:`expect`)."""
        total, sizes = self._run_total, self._start
        if total is None or total > sizes.short_run:
            return sizes.probe
        return max(sizes.probe, min(total, sizes.first_burst))

    def expect(self, total: int) -> None:
        """Announce how many requests the current run sends in all, those already sent included.

        A hint, never required. Before the first rate-limit headers, a run of at most
        ``tuning.short_run`` of the budget sends ``tuning.first_burst`` of it (all of it when
        smaller) instead of the probe: a short task does not spend a round trip waiting for
        headers, and many such bursts started together still fit in one window (with ``sharers=N``
        the probe stays: see :class:`_StartSizes`). Nothing more leaves before the headers than
        announced (a retry waits for them); once headers are seen the announcement changes nothing.

        :param total: the run's requests (a lower bound is safe).
        :raises ValueError: ``total`` is negative.
        """
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ValueError(f"total must be an integer >= 0, got {total!r}.")
        with self._lock:
            self._run_total = total
            self._wake.notify_all()

    def expected_wait(self) -> float:
        """Seconds until one more request would fit if nothing changes (nothing is recorded).

        :meth:`try_acquire` answers with at most 1 % of a window so that waiting threads re-check
        often; this is the whole wait, for saying in a log line how long a task will pause.
        """
        with self._lock:
            return self._full_wait(self._clock())

    def try_acquire(self) -> float:
        """Record one request as sent if it fits in the window now, without blocking.

        :returns: ``0.0`` when the request was recorded, else the seconds to wait before asking
            again.
        """
        with self._lock:
            now = self._clock()
            wait = self._wait_time(now)
            if wait > 0:
                return wait
            self._sends.append(now)
            self._local.sent_at = now
            if self._state.shared(now):
                # Evenly spaced sends: processes interleave instead of bursting together.
                self._next_send = now + self.window_s / max(self._state.limit, 1.0)
            return 0.0

    def record(self) -> None:
        """Record one request as sent without asking the window: a shared budget store admitted it.

        The send still counts here, so the answer's headers are compared with our own sends
        (:meth:`observe`) and the law stays current for when the store is unavailable.
        """
        with self._lock:
            now = self._clock()
            self._prune(now)
            self._sends.append(now)
            self._local.sent_at = now

    def pause_left(self) -> float:
        """Seconds left of the pause after a 429 (0 when none): every sender waits it out."""
        with self._lock:
            return max(0.0, self._state.paused_until - self._clock())

    def acquire(self) -> float:
        """Block until one more request fits in the window, and record it as sent.

        :returns: the seconds spent waiting.
        """
        waited = 0.0
        if self._sleep is not time.sleep:  # an injected sleep (tests, simulations) drives the time
            while (wait := self.try_acquire()) > 0:
                self._sleep(wait)
                waited += wait
            return waited
        with self._wake:
            while (wait := self.try_acquire()) > 0:
                started = self._clock()
                self._wake.wait(wait)  # releases the (re-entrant) lock while waiting
                waited += max(self._clock() - started, 0.0)
        return waited

    def observe(self, headers: Mapping[str, str], *, sent_at: float | None = None) -> RateLimitStatus | None:
        """Read HubSpot's rate-limit headers from an answer and adapt this limiter's limit.

        Call it from the thread that called :meth:`acquire` for the request, so the answer is
        compared with our own sends in the window the server counted when the request arrived.

        :param headers: the answer's headers (case-insensitive mapping or plain dict); ``{}`` after
            a request that got no answer.
        :param sent_at: when the answered request was recorded (default: the calling thread's
            last :meth:`acquire`).
        :returns: the parsed status, or ``None`` when the headers are absent.
        """
        if sent_at is None:
            sent_at = self._local.sent_at
        self._local.sent_at = None
        maximum = _header(headers, HEADER_MAX)
        remaining = _header(headers, HEADER_REMAINING)
        interval_ms = _header(headers, HEADER_INTERVAL)
        if maximum is None or remaining is None or maximum <= 0:
            self._no_headers()
            return None
        interval_ms = interval_ms if interval_ms and interval_ms > 0 else int(self.window_s * 1000)
        with self._lock:
            now = self._clock()
            status = RateLimitStatus(maximum, remaining, interval_ms, now)
            self._status = status
            obs = self._observation(status, now if sent_at is None else sent_at)
            was_shared = self._state.shared(now)
            self._state = control_law(
                self._state, obs, cap=self._cap, window_s=self.window_s, tuning=self.tuning
            )
            if self._state.shared(now) and not was_shared:
                self._start_pacing(now)
            self._wake.notify_all()
            return status

    def _no_headers(self) -> None:
        """An answer without rate-limit headers (or none at all): end the probe."""
        with self._lock:
            if self._probe and self._status is None:
                # a server without headers: nothing to share
                self._state = dataclasses.replace(self._state, limit=self._cap)
            self._probe = False
            self._wake.notify_all()

    def _observation(self, status: RateLimitStatus, sent: float) -> Observation:
        """Compare an answer's headers with our sends in the span the server counted for it."""
        interval_s = status.interval_ms / 1000.0
        # Our sends the server may have counted: arrival jitter (up to about the slack) can move
        # a send of ours across either end of the span, so count them all.
        slack = self._state.slack
        ours = self._count_since(sent - interval_s - slack, sent + slack)
        ours_min = min(ours, self._count_since(sent - interval_s + slack, sent - slack) + 1)
        return Observation(status.observed_at, sent, status.max, status.remaining, interval_s, ours, ours_min)

    def _start_pacing(self, now: float) -> None:
        """Pace from the new share, one period after our last send plus a random phase.

        Tasks that start sharing together (on the same headers) interleave instead of sending
        their paced requests in the same instant.
        """
        period = self.window_s / max(self._state.limit, 1.0)
        last = self._sends[-1] if self._sends else -math.inf
        self._next_send = max(now, last + period) + period * self._rng()

    def penalize(self, retry_after: float | None = None) -> None:
        """After a 429 ``TEN_SECONDLY_ROLLING``: wait, and if others share the budget, back off.

        Call it after :meth:`observe` of the 429's headers; see :func:`after_429`.

        :param retry_after: seconds HubSpot asked to wait (honoured when the budget is shared).
        """
        with self._lock:
            now = self._clock()
            # Pacing goes on after the pause: the count gate alone would let ceil(limit) requests
            # of every task go at once and fill the window with 429s again.
            jitter = self._rng()
            self._state = after_429(
                self._state, now, retry_after, jitter, window_s=self.window_s, tuning=self.tuning
            )
