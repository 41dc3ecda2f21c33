"""Client-side rate limiting for HubSpot's rolling burst window, shared by all threads of a task.

:class:`RollingWindowLimiter` counts this process's sends at acquire time and lets a request go
only when the last ``window_s`` seconds, plus a small time slack, hold fewer than its share of the
budget. The slack (a few % of the window) covers the jitter between our clock and the arrival at
HubSpot, so a process alone uses the whole budget; a 429 that the headers show was nobody else's
(jitter) costs a short wait and widens the slack, never a window or a cut.

Several processes (Airflow tasks) often spend one app's budget, so the limiter reads HubSpot's
``X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds`` headers on every answer
(:meth:`~RollingWindowLimiter.observe`): ``Max - Remaining`` is what the whole app spent in the
server's window when our request arrived, our own sends in that span are known, the rest was spent
by others. Shared, a process paces its requests evenly and aims the app's total at 90 % of
``Max`` multiplicatively: its share follows what it sent in the server's window times
``aim / used`` (plus a small bonus, the same for every process, so unequal shares converge), so
the targets of all processes add up to the aim within about a window whatever the answers'
delay, and an early finisher's share is taken over as soon as the headers show it gone. A
process starts with one probe request and then a quarter of the budget, growing by one request
per answer that shows nobody else; when others appear it drops to ``aim / (used + 1)``, so
processes started together (and one that ramped up first) start from equal shares. After a 429
while shared (:meth:`~RollingWindowLimiter.penalize`) every thread pauses a jittered quarter
window (processes refused together come back apart) and the share is cut by 15 %. Clock, sleep
and randomness are injectable so tests run without waiting.
"""

from __future__ import annotations

import bisect
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
    """A thread-safe rolling-window limiter that shares one budget with other processes.

    :param budget: requests allowed per window (the connection's ``max_requests_per_10s``).
    :param window_s: window length in seconds (10 at HubSpot).
    :param safety_ratio: share of the budget a process alone may use (the time slack already
        absorbs arrival jitter, so the whole budget by default).
    :param shared_ratio: share of HubSpot's ``Max`` that all processes together aim at when
        others spend the same budget (their requests in flight are invisible, so keep a margin).
    :param clock: monotonic clock in seconds.
    :param sleep: sleeps the given seconds.
    :param rng: returns a float in ``[0, 1)``; spreads the end of a 429 pause across processes.
    :param probe: send a single request first, then ramp up from a third of the budget while
        HubSpot's headers show nobody else spending it.
    :param slack_ratio: initial time slack added to the expiry of our oldest send, as a fraction
        of the window (it widens after a 429 caused by jitter).
    """

    #: Requests added to our part of the app's usage before scaling it to the aim (the same for
    #: every process, so unequal shares converge).
    BONUS = 0.5
    #: How fast the share follows its target: the weight of one answer, per window elapsed.
    TRACKING = 2.0
    #: Weight of one answer in the smoothed estimate of the requests of others.
    SMOOTHING = 0.25
    #: Share of the budget after the probe, before answers confirm that we are alone.
    START = 1 / 4
    #: Mean pause after a 429 while shared, in windows (jittered by +-50 %).
    PAUSE = 0.25
    #: Factor of the share after a 429 while shared (the answer's headers already cut it).
    CUT = 0.85
    #: Largest time slack, as a fraction of the window.
    MAX_SLACK = 0.1
    #: Smallest time slack in seconds (within MAX_SLACK): opening a connection or waiting for the
    #: GIL under load delays an arrival by tens of ms, which 2 % of a short window does not cover.
    MIN_SLACK_S = 0.03

    def __init__(
        self,
        budget: int,
        window_s: float = 10.0,
        *,
        safety_ratio: float = 1.0,
        shared_ratio: float = 0.9,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        probe: bool = True,
        slack_ratio: float = 0.02,
    ) -> None:
        if budget < 1:
            raise ValueError(f"budget must be >= 1, got {budget!r}.")
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}.")
        if not 0 <= slack_ratio <= self.MAX_SLACK:
            raise ValueError(f"slack_ratio must be between 0 and {self.MAX_SLACK}, got {slack_ratio!r}.")
        self.budget = budget
        self.window_s = window_s
        self._safety_ratio = safety_ratio
        self._shared_ratio = shared_ratio
        self._cap = float(max(1, math.floor(budget * safety_ratio)))
        self._limit = max(1.0, math.ceil(self._cap * self.START)) if probe else self._cap
        # Until HubSpot's first rate-limit headers say whether others share the budget, send one
        # probe request at a time (for at most one window, in case the server sends no headers).
        self._probe = probe
        self._probe_until: float | None = None
        self._rng = rng
        self._slack = min(self.MAX_SLACK * window_s, max(slack_ratio * window_s, self.MIN_SLACK_S))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sends: list[float] = []  # our send times, ascending, kept for two windows
        self._local = threading.local()  # the send time of each thread's request in flight
        self._paused_until = 0.0
        self._next_send = 0.0
        self._next_decrease = 0.0
        self._shared_until: float | None = None
        self._others = 0.0  # smoothed requests of others per server interval (noise averages out)
        self._last_adjust: float | None = None
        self._status: RateLimitStatus | None = None

    @property
    def limit(self) -> int:
        """Requests this limiter currently lets through per window."""
        with self._lock:
            return int(self._limit)

    @property
    def slack(self) -> float:
        """Seconds added to the expiry of our oldest send before its slot is used again."""
        with self._lock:
            return self._slack

    @property
    def shared(self) -> bool:
        """Whether others spent the same budget recently (then requests are paced)."""
        with self._lock:
            return self._is_shared(self._clock())

    @property
    def status(self) -> RateLimitStatus | None:
        """The last rate-limit headers seen, if any."""
        with self._lock:
            return self._status

    def _is_shared(self, now: float) -> bool:
        return self._shared_until is not None and now < self._shared_until

    def _count_since(self, start: float, end: float) -> int:
        """Our sends in ``(start, end]``."""
        return bisect.bisect_right(self._sends, end) - bisect.bisect_right(self._sends, start)

    def _prune(self, now: float) -> None:
        keep = bisect.bisect_right(self._sends, now - 2 * self.window_s - self.MAX_SLACK * self.window_s)
        if keep > 64 or keep == len(self._sends):
            del self._sends[:keep]

    def _wait_time(self, now: float) -> float:
        if now < self._paused_until:
            return self._paused_until - now
        if now < self._next_send:
            return self._next_send - now
        self._prune(now)
        limit = max(1, int(self._limit))
        if self._probe and self._status is None:
            if self._probe_until is None:
                self._probe_until = now + self.window_s
            if now < self._probe_until and self._sends:
                return min(self._probe_until - now, 0.005 + 0.005 * self.window_s)
        # Any span of ``window_s`` at HubSpot must hold fewer than ``limit`` of our arrivals; a
        # send's slot is free again ``window_s + slack`` after it left.
        first = bisect.bisect_right(self._sends, now - self.window_s - self._slack)
        if len(self._sends) - first < limit:
            return 0.0
        blocker = self._sends[len(self._sends) - limit]
        return max(blocker + self.window_s + self._slack - now, 1e-3)

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
            if self._is_shared(now):
                # Evenly spaced sends: processes interleave instead of bursting together.
                self._next_send = now + self.window_s / max(self._limit, 1.0)
            return 0.0

    def acquire(self) -> float:
        """Block until one more request fits in the window, and record it as sent.

        :returns: the seconds spent waiting.
        """
        waited = 0.0
        while (wait := self.try_acquire()) > 0:
            self._sleep(wait)
            waited += wait
        return waited

    def observe(self, headers: Mapping[str, str], *, sent_at: float | None = None) -> RateLimitStatus | None:
        """Read HubSpot's rate-limit headers from an answer and adapt this limiter's share.

        Call it from the thread that called :meth:`acquire` for the request, so the answer is
        compared with our own sends in the window the server counted when the request arrived.

        :param headers: the answer's headers (case-insensitive mapping or plain dict); ``{}`` after
            a request that got no answer.
        :param sent_at: when the answered request was recorded (default: the calling thread's
            last :meth:`acquire`).
        :returns: the parsed status, or ``None`` when the headers are absent.
        """
        if sent_at is None:
            sent_at = getattr(self._local, "sent_at", None)
        self._local.sent_at = None
        maximum = _header(headers, HEADER_MAX)
        remaining = _header(headers, HEADER_REMAINING)
        interval_ms = _header(headers, HEADER_INTERVAL)
        if maximum is None or remaining is None or maximum <= 0:
            with self._lock:
                if self._probe and self._status is None:
                    self._limit = self._cap  # a server without headers: nothing to share
                self._probe = False
            return None
        interval_ms = interval_ms if interval_ms and interval_ms > 0 else int(self.window_s * 1000)
        with self._lock:
            now = self._clock()
            status = RateLimitStatus(maximum, remaining, interval_ms, now)
            self._status = status
            self._adapt(now, now if sent_at is None else sent_at, status)
            return status

    def _adapt(self, now: float, sent_at: float, status: RateLimitStatus) -> None:
        """The control law; ``sent_at`` is when the observed request left (called under the lock)."""
        interval_s = status.interval_ms / 1000.0
        scale = self.window_s / interval_s  # server counts -> counts per our window
        maximum = status.max
        cap = min(self._cap, max(1.0, math.floor(maximum * self._safety_ratio * scale)))
        self._limit = min(self._limit, cap)
        if now - sent_at > interval_s:
            return  # a very late answer says nothing about the current window
        used = max(maximum - status.remaining, 1)
        # Our sends the server may have counted: arrival jitter (up to about the slack) can move
        # a send of ours across either end of the span, so count them all: the estimate of
        # others stays a lower bound, and bursts of our own never look like someone else.
        ours = self._count_since(sent_at - interval_s - self._slack, sent_at + self._slack)
        weight = self.SMOOTHING if self._last_adjust is not None else 1.0
        self._others += weight * (used - ours - self._others)
        was_shared = self._is_shared(now)
        if self._others >= 0.8 * max(1, math.ceil(maximum * 0.05)):
            self._shared_until = now + 2 * interval_s
        shared = self._is_shared(now)
        if not shared:
            if now >= self._paused_until:
                # Alone: one more request per answer that shows nobody else, up to the budget.
                self._limit = min(cap, self._limit + 1.0)
            self._last_adjust = now
            return
        aim = self._shared_ratio * maximum
        if not was_shared:
            # Someone else appeared: each request in the window may be another process (they
            # start together), and one more may come: start from that part of the aim, even
            # when we ramped up alone first (the control law keeps shares in proportion).
            self._limit = max(1.0, min(self._limit, aim / (used + 1) * scale))
            self._next_send = 0.0
        elapsed = 0.0 if self._last_adjust is None else min(max(now - self._last_adjust, 0.0), interval_s)
        self._last_adjust = now
        if now >= self._paused_until:
            # Scale what we sent in the server's window by aim / used: the targets of all
            # processes add up to the aim whatever the delay of the answers (the total converges
            # in about a window, without oscillating), an early finisher's share goes to the
            # others as soon as the headers show it, and the same small bonus for every process
            # pulls unequal shares together.
            target = (ours + self.BONUS) * aim / used * scale
            weight = min(1.0, self.TRACKING * elapsed / interval_s)
            self._limit += weight * (target - self._limit)
        self._limit = max(1.0, min(self._limit, cap))

    def penalize(self, retry_after: float | None = None) -> None:
        """After a 429 ``TEN_SECONDLY_ROLLING``: wait, and if others share the budget, back off.

        Call it after :meth:`observe` of the 429's headers. Alone (the headers showed nobody else
        spending the budget), the 429 came from arrival jitter: every thread waits a couple of
        slacks, the slack widens, the share stays. Shared, every thread pauses 0.5-1.5 windows (or
        ``retry_after`` when longer; random so processes refused together come back apart) and the
        share is halved, once per pause.

        :param retry_after: seconds HubSpot asked to wait (honoured when the budget is shared).
        """
        with self._lock:
            now = self._clock()
            if not self._is_shared(now):
                self._slack = min(self.MAX_SLACK * self.window_s, max(self._slack * 1.5, 0.005))
                self._paused_until = max(self._paused_until, now + 2 * self._slack)
                return
            self._next_send = 0.0  # the pause replaces any pacing
            if now < self._paused_until:
                return  # one pause for the requests refused together
            pause = max(retry_after or 0.0, self.window_s * self.PAUSE * (0.5 + self._rng()))
            self._paused_until = now + pause
            if now >= self._next_decrease:
                self._limit = max(1.0, self._limit * self.CUT)
                self._next_decrease = now + pause
