"""A deterministic simulation of tasks sharing one HubSpot app budget, on one fake clock.

Every simulated task has its own :class:`RollingWindowLimiter` (the real one) and ``in_flight``
worker threads; a request arrives 0-5 ms after the limiter let it go, is counted against the
server's rolling window the way the sandbox counts it (429s included, ``Remaining = Max - count``),
and is answered 100-400 ms later with HubSpot's ``X-HubSpot-RateLimit-*`` headers. A refused
request is penalised and sent again. No threads, no sleeping: thousands of simulated seconds run
in a second, and the same seed gives the same run.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections import deque
from dataclasses import dataclass, field

from hubspot_events_provider.core.http.limiter import RollingWindowLimiter
from hubspot_events_provider.core.http.limiter_law import DEFAULT_TUNING, LimiterTuning
from hubspot_events_provider.core.http.store_gate import COLD_START_SLACK_S

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


class _SimStore:
    """The shared store's script and each task's gate: grants counted from their time plus the
    slack (plus the cold start's in a task's first window), tickets served to the task served the
    fewest requests first (a new task starts one window's equal share below the least served task
    holding grants), one waiting thread per task (the gate's turn)."""

    def __init__(self, tasks: int, budget: int, window_s: float, slack: float) -> None:
        self.budget, self.window_s, self.slack = budget, window_s, slack
        self.grants: list[tuple[float, int]] = []  # (score, task), sorted
        self.queue: dict[int, tuple[int, float]] = {}  # ticket -> (task, first ask)
        self.wake: dict[int, float] = {}  # ticket -> when it asks again
        self.served: dict[int, int] = {}  # task -> requests served (fair-share order)
        self.turn = [False] * tasks
        self.blocked = [0] * tasks
        self.warm_at: list[float | None] = [None] * tasks
        self.tickets = itertools.count(1)

    def take(self, task: int, ticket: int, now: float) -> float:
        """0 when admitted, else the wait until this ticket's turn."""
        while self.grants and self.grants[0][0] <= now - self.window_s:
            self.grants.pop(0)
        self.queue.setdefault(ticket, (task, now))
        holding = {owner for _, owner in self.grants}
        known = holding | {owner for owner, _ in self.queue.values()}
        self.served = {t: n for t, n in self.served.items() if t in known}
        if task not in self.served:
            low = min((self.served.get(t, 0) for t in holding), default=0)
            self.served[task] = max(0, low - math.ceil(self.budget / (len(holding) + 1)))
        order = sorted(self.queue, key=lambda t: (self.served.get(self.queue[t][0], 0), self.queue[t][1], t))
        # A ticket ahead that sleeps until a later turn does not hold a free slot back.
        rank = sum(1 for t in order[: order.index(ticket)] if self.wake.get(t, now) <= now)
        free = self.budget - len(self.grants)
        if rank < free:
            warm_at = self.warm_at[task]
            if warm_at is None:
                warm_at = self.warm_at[task] = now + self.window_s
            cold = COLD_START_SLACK_S if now < warm_at else 0.0
            bisect.insort(self.grants, (now + self.slack + cold, task))
            del self.queue[ticket]
            self.wake.pop(ticket, None)
            self.served[task] += 1
            return 0.0
        ahead = rank - free
        wait = self.window_s
        if ahead < len(self.grants):
            wait = max(1e-6, self.grants[ahead][0] + self.window_s - now)
        self.wake[ticket] = now + wait
        return wait


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
        admission window for every task (a grant counts ``store_slack`` later, plus the cold
        start's in the task's first window, as the store gate asks Redis), one waiting thread per
        task, served in the order they asked, each asking again when its turn comes; ``None``:
        each task's own limiter (the default).
    :returns: the server's view and each task's finish time.
    """
    rnd = random.Random(seed)
    clock = SimClock()
    interval_ms = int(window_s * 1000)
    window: deque[float] = deque([0.0] * stale)
    store = None if store_slack is None else _SimStore(len(tasks), maximum, window_s, store_slack)
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
        if kind == "try" and store is not None and left[p] > 0:
            if store.turn[p]:  # another thread of the task waits in the queue
                store.blocked[p] += 1
                continue
            store.turn[p] = True
            kind, sent_at = "ask", float(next(store.tickets))
        if kind == "ask" and store is not None:
            wait = store.take(p, int(sent_at), clock.now)
            if wait > 0:
                heapq.heappush(events, (clock.now + wait, next(seq), p, "ask", sent_at, False))
                continue
            store.turn[p] = False
            if store.blocked[p]:
                store.blocked[p] -= 1
                heapq.heappush(events, (clock.now, next(seq), p, "try", 0.0, False))
            if left[p] <= 0:
                continue
            kind = "send"
        if kind == "try":
            if left[p] <= 0:
                continue
            if lim.try_acquire() > 0:
                wait = lim._full_wait(clock.now)  # the uncapped wait, see above
                sleeping[p] += 1
                heapq.heappush(
                    events, (clock.now + max(wait, 1e-3), next(seq), p, "wake", generation[p], False)
                )
                continue
            kind = "send"
        if kind == "send":
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
