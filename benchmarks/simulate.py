"""A deterministic simulation of tasks sharing one HubSpot app budget, on one fake clock.

Every simulated task has its own :class:`RollingWindowLimiter` (the real one) and ``in_flight``
worker threads; a request arrives 0-5 ms after the limiter let it go, is counted against the
server's rolling window the way the sandbox counts it (429s included, ``Remaining = Max - count``),
and is answered 100-400 ms later with HubSpot's ``X-HubSpot-RateLimit-*`` headers. A refused
request is penalised and sent again. No threads, no sleeping: thousands of simulated seconds run
in a second, and the same seed gives the same run.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from dataclasses import dataclass, field

from hubspot_events_provider.core.http.limiter import RollingWindowLimiter
from hubspot_events_provider.core.http.limiter_law import DEFAULT_TUNING, LimiterTuning
from hubspot_events_provider.core.http.store_gate import WAIT_JITTER

__all__ = ["SimClock", "SimResult", "SimTask", "simulate"]


class SimClock:
    """The shared fake clock; limiters only read it (waits are scheduled as events)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:  # pragma: no cover - the simulation never blocks
        self.now += seconds


@dataclass
class SimTask:
    """One task: ``requests`` batches sent from ``start`` with ``in_flight`` threads."""

    requests: int
    start: float = 0.0
    in_flight: int = 8
    budget: int | None = None  # the task's configured budget (default: the app's Max)
    finished: float | None = None
    accepted: list[float] = field(default_factory=list)
    refused: int = 0


@dataclass
class SimResult:
    """What the server saw: arrival times of accepted and refused requests, and each task."""

    tasks: list[SimTask]
    accepted: list[float]
    refused: list[float]
    max_per_window: int

    def finish_spread(self) -> float:
        """Slowest task's duration over the fastest's (tasks that started together)."""
        durations = [t.finished - t.start for t in self.tasks if t.finished is not None]
        return max(durations) / min(durations) if durations else 0.0


def _headers(maximum: int, remaining: int, interval_ms: int) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Max": str(maximum),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": str(interval_ms),
    }


def _store_take(grants: deque[float], now: float, budget: int, span: float) -> float:
    """The shared store's script: drop grants older than ``span``, admit (0) or say how long to wait."""
    while grants and grants[0] <= now - span:
        grants.popleft()
    if len(grants) < budget:
        grants.append(now)
        return 0.0
    return grants[0] + span - now


def simulate(
    tasks: list[SimTask],
    *,
    maximum: int = 100,
    window_s: float = 10.0,
    latency: tuple[float, float] = (0.1, 0.4),
    seed: int = 0,
    stale: int = 0,
    start_spread: float = 0.02,
    tuning: LimiterTuning = DEFAULT_TUNING,
    sharers: int | None = None,
    store_slack: float | None = None,
) -> SimResult:
    """Run ``tasks`` against one simulated app budget of ``maximum`` per ``window_s``.

    :param stale: requests of a task that just ended, already in the window at time 0.
    :param start_spread: each thread of a task starts up to this many seconds after the task.
    :param tuning: the limiters' constants.
    :param sharers: the number of sharers each limiter is told (``None``: unknown, the default).
    :param store_slack: model the shared budget store instead of each task's law: one exact
        admission window for every task (a grant counts for ``window_s + store_slack``, as the
        store gate asks Redis), a refused thread asks again when the oldest grant leaves, plus a
        quarter slot of jitter (:data:`~hubspot_events_provider.core.http.store_gate.WAIT_JITTER`);
        ``None``: each task's own limiter (the default).
    :returns: the server's view and each task's finish time.
    """
    rnd = random.Random(seed)
    clock = SimClock()
    interval_ms = int(window_s * 1000)
    window: deque[float] = deque([0.0] * stale)
    grants: deque[float] = deque()  # the shared store's admissions (store_slack set)
    limiters = [
        RollingWindowLimiter(
            t.budget or maximum,
            window_s,
            clock=clock,
            sleep=clock.sleep,
            rng=random.Random(seed * 1000 + i).random,
            tuning=tuning,
            sharers=sharers,
        )
        for i, t in enumerate(tasks)
    ]
    left = [t.requests for t in tasks]
    pending = [t.requests for t in tasks]  # not yet accepted
    accepted: list[float] = []
    refused: list[float] = []
    seq = itertools.count()
    events: list[tuple[float, int, int, str, float, bool]] = []
    for p, t in enumerate(tasks):
        for _ in range(t.in_flight):
            heapq.heappush(events, (t.start + rnd.uniform(0, start_spread), next(seq), p, "try", 0.0, False))
    most = 0
    # A thread that must wait sleeps until its slot frees, or until an answer of its task may have
    # raised the limit (real threads wake every 1 % of a window to look; the simulation wakes them
    # at each answer instead, which is the same decision without thousands of idle events).
    sleeping = [0] * len(tasks)
    generation = [0] * len(tasks)
    while events:
        when, _, p, kind, sent_at, ok = heapq.heappop(events)
        clock.now = max(clock.now, when)
        lim = limiters[p]
        if kind == "wake":
            if int(sent_at) != generation[p]:
                continue  # woken earlier by an answer
            sleeping[p] -= 1
            kind = "try"
        if kind == "try":
            if left[p] <= 0:
                continue
            if store_slack is not None:
                wait = _store_take(grants, clock.now, maximum, window_s + store_slack)
                if wait > 0:
                    again = clock.now + wait + WAIT_JITTER * window_s / maximum * rnd.random()
                    heapq.heappush(events, (again, next(seq), p, "try", 0.0, False))
                    continue
            elif lim.try_acquire() > 0:
                wait = lim._full_wait(clock.now)  # the uncapped wait, see above
                sleeping[p] += 1
                heapq.heappush(
                    events, (clock.now + max(wait, 1e-3), next(seq), p, "wake", generation[p], False)
                )
                continue
            left[p] -= 1
            arrival = clock.now + rnd.uniform(0, 0.005)
            heapq.heappush(events, (arrival, next(seq), p, "arrive", clock.now, False))
        elif kind == "arrive":
            while window and window[0] <= clock.now - window_s:
                window.popleft()
            ok = len(window) < maximum
            window.append(clock.now)
            most = max(most, len(window))
            (accepted if ok else refused).append(clock.now)
            if ok:
                tasks[p].accepted.append(clock.now)
            else:
                tasks[p].refused += 1
            remaining = max(0, maximum - len(window))
            answer = clock.now + rnd.uniform(*latency)
            heapq.heappush(events, (answer, next(seq), p, f"answer:{remaining}", sent_at, ok))
        else:
            remaining = int(kind.split(":", 1)[1])
            lim.observe(_headers(maximum, remaining, interval_ms), sent_at=sent_at)
            generation[p] += 1
            for _ in range(sleeping[p]):
                heapq.heappush(events, (clock.now, next(seq), p, "try", 0.0, False))
            sleeping[p] = 0
            if ok:
                pending[p] -= 1
                if pending[p] == 0:
                    tasks[p].finished = clock.now
            else:
                lim.penalize()
                left[p] += 1
            heapq.heappush(events, (clock.now, next(seq), p, "try", 0.0, False))
    return SimResult(tasks, accepted, refused, most)
