"""Client-side rate limiting for HubSpot's rolling burst window, shared by all threads of a task.

:class:`RollingWindowLimiter` counts this process's sends at acquire time and lets a request go
only when the last ``window_s`` seconds, plus a small time slack, hold fewer than its limit. The
slack (2 % of the window, at least 30 ms, at most 10 %) covers the jitter between our clock and the
arrival at HubSpot, so a process alone uses the whole budget; a 429 that the headers show was
nobody else's (jitter) costs a wait of two slacks and widens the slack by half, never a cut; ten
windows without one narrow it again.

The limit follows HubSpot's ``X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds`` headers,
read on every answer (:meth:`~RollingWindowLimiter.observe`): ``Max - Remaining`` is what the whole
app spent in the server's window when our request arrived; our own sends in that span are known;
the rest (*others*) was spent by other processes. The control law is the pure function
:func:`control_law` of (:class:`LimiterState`, :class:`Observation`); its constants live in one
frozen :class:`LimiterTuning`:

- **Start.** Before the first headers a process sends ``probe_share`` of the budget (at least one
  request), then ``start`` (a quarter) of it, growing by one request per answer while nobody else
  spends the budget. A run that announces its size (:meth:`~RollingWindowLimiter.expect`; the write
  pipeline does) and is *short* (at most ``short_run``, a quarter of the budget) sends a first
  burst of ``first_burst`` (1/16, all of it when smaller) instead of the probe: a round trip is a
  large part of a short run, and sixteen bursts fit in one window. Longer runs keep the probe (one
  round trip is little to them), and so do tasks told their number of sharers (paced at their equal
  share from the first answer, a burst gains them nothing).
- **Quiet others** (a task that just ended: its requests are still in the window, but their count
  does not grow). Until one interval has passed since our first answer, others whose count does not
  grow are not sharing: the limit is what the window has left for us (``Max - others``), at full
  speed, unpaced. Confirming it costs one round trip with one request (the later answers of a
  first burst add none): a task started right after another one runs one round trip slower than
  alone. (Sending more before the confirmation is not safe: the others may be tasks starting with
  us that would do the same; ``docs/scaling.md`` has the simulation's figures.)
- **Shared** (others' count grew by ``active_share`` of ``Max`` since the lowest count seen in the
  last interval, or others still spend that much one interval after our start). The limit drops to
  ``aim / (used + 1)`` (``aim = shared_ratio x Max``: processes started together start from equal
  shares), sends are paced evenly, and at each answer the limit moves towards
  ``(ours + bonus) x aim / used`` (weight ``tracking`` per window): the targets of all processes add
  up to the aim within about a window, an early finisher's share is taken over as soon as the
  headers show it gone, and the equal ``bonus`` pulls unequal shares together.
- **Told N** (``RollingWindowLimiter(sharers=N)``): a task shares from its first answer at the equal
  share ``aim / N`` (``aim = min(known_ratio x Max, Max - told_margin x sqrt(N))``), keeps to it
  for one interval while the window fills, then moves towards
  ``(ours + even x aim / N) x aim / (used + even x aim)``, with ``ours`` our unbiased rate (the
  count at our own arrival holds half a request too many; never more than our paced limit). A
  fractional share is paced at ``window / limit`` from a random phase with a count gate of
  ``ceil(limit)``; pacing goes on through a 429 pause, which lasts about a window (``told_pause``).
- **429 while shared** (:func:`after_429`): every thread pauses ``pause`` of a window, jittered by
  +-50 % (processes refused together come back apart, ``Retry-After`` honoured when longer) and the
  limit is cut to ``cut`` (85 %) of itself, once per pause.

Clock, sleep and randomness are injectable so tests run without waiting.
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

__all__ = [
    "LimiterState",
    "LimiterTuning",
    "Observation",
    "RateLimitStatus",
    "RollingWindowLimiter",
    "after_429",
    "control_law",
    "initial_slack",
]

HEADER_MAX = "X-HubSpot-RateLimit-Max"
HEADER_REMAINING = "X-HubSpot-RateLimit-Remaining"
HEADER_INTERVAL = "X-HubSpot-RateLimit-Interval-Milliseconds"


@dataclass(frozen=True)
class LimiterTuning:
    """Every tuning constant of the limiter, in one place.

    :param probe_share: share of the budget sent before the first rate-limit headers (at least one
        request): small, so processes started together cannot overrun the window before they see
        each other.
    :param start: share of the budget allowed once the first headers show room, before further
        answers confirm that nobody else is spending it.
    :param shared_ratio: share of HubSpot's ``Max`` that all processes together aim at when others
        spend the same budget (their requests in flight are invisible, so keep a margin).
    :param active_share: others count as sharing when they spend at least this share of ``Max``
        (times 0.8, at least one request) during our run.
    :param bonus: requests added to our part of the app's usage before scaling it to the aim (the
        same for every process, so unequal shares converge).
    :param even: with a known number of sharers (``RollingWindowLimiter(sharers=N)``): the part of
        the aim handed out equally, ``even x aim / N`` to each task per window (taken out of the
        scaling again, so the sum stays at the aim); it evens shares out within a few windows.
    :param known_ratio: the aim (share of ``Max``) when the number of sharers is known: equal
        shares leave less to chance than proportional ones, so the margin can be smaller.
    :param tracking: how fast a shared limit follows its target: the weight of one answer, per
        window elapsed.
    :param smoothing: weight of one answer in the smoothed count of the requests of others.
    :param pause: mean pause after a 429 while shared, in windows (jittered by +-50 %).
    :param cut: factor applied to the limit after a 429 while shared (the answer's headers already
        cut it).
    :param slack_ratio: initial time slack, as a fraction of the window.
    :param min_slack_s: smallest slack in seconds (within ``max_slack``): opening a connection or
        waiting for the GIL under load delays an arrival by tens of ms.
    :param max_slack: largest time slack, as a fraction of the window.
    :param slack_growth: factor applied to the slack after a 429 that was nobody else's.
    :param slack_calm_windows: windows without such a 429 after which a widened slack narrows by
        ``slack_growth`` again (towards its initial value): one burst of jitter (a loaded machine,
        a slow connection) must not cost the rest of a long run its pace.
    :param first_burst: (start phase) share of the budget a short run (see ``short_run``) sends
        before the first rate-limit headers instead of the probe: sixteen short runs started
        together still fit in one window.
    :param short_run: (start phase) a run announced with :meth:`RollingWindowLimiter.expect` at
        most this share of the budget is short: a round trip is a large part of its time, so it
        starts with ``first_burst`` (all of it when smaller). Longer runs keep the probe: one round
        trip more is little to them, and they are the ones that ramp up and share for windows.
    :param told_margin: with a known number of sharers N, the aim is at most
        ``Max - told_margin x sqrt(N)``: each paced task has ``floor`` or ``ceil`` of its share in a
        window depending on where it starts, so the app's count varies by about ``sqrt(N) / 2``.
    :param told_pause: mean pause after a 429 of a task told the number of sharers, in windows
        (refused requests count in HubSpot's window: a retry within it finds it still full).
    """

    probe_share: float = 1 / 64
    start: float = 0.25
    shared_ratio: float = 0.9
    active_share: float = 0.05
    bonus: float = 0.5
    even: float = 0.3
    known_ratio: float = 0.95
    tracking: float = 2.0
    smoothing: float = 0.25
    pause: float = 0.25
    cut: float = 0.85
    slack_ratio: float = 0.02
    min_slack_s: float = 0.03
    max_slack: float = 0.1
    slack_growth: float = 1.5
    # Start phase (added after the constants above, so positional use stays as it was).
    first_burst: float = 1 / 16
    short_run: float = 1 / 4
    # Alone: windows without a 429 after which a widened slack narrows again by slack_growth.
    slack_calm_windows: float = 10.0
    # shared phase (issue 17), a known number of sharers: aim margin and pause after a 429
    told_margin: float = 1.25
    told_pause: float = 1.0


#: The tuning every limiter uses unless given another.
DEFAULT_TUNING = LimiterTuning()


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


@dataclass(frozen=True)
class Observation:
    """One answer's headers, compared with our own sends.

    :param now: when the answer was read.
    :param sent_at: when the answered request left.
    :param maximum: ``X-HubSpot-RateLimit-Max``.
    :param remaining: ``X-HubSpot-RateLimit-Remaining``.
    :param interval_s: the server's window in seconds.
    :param ours: our sends the server may have counted for this answer (an upper bound, so the
        count of others is a lower bound and our own bursts never look like someone else).
    :param ours_min: our sends the server certainly counted (default ``ours``): the lowest count of
        others, the baseline of growth, is taken with it, so our own requests arriving in a burst
        never look like growth.
    """

    now: float
    sent_at: float
    maximum: int
    remaining: int
    interval_s: float
    ours: int
    ours_min: int | None = None


@dataclass(frozen=True)
class LimiterState:
    """What the control law remembers between answers.

    :param limit: requests we may send per window (a float: the law moves it gradually).
    :param others: smoothed requests of others in the server's window.
    :param floor: lowest count of others seen within the last interval (``None`` before the first
        answer); growth above it is spending by others during our run.
    :param floor_at: when ``floor`` was seen.
    :param first_seen: when the first answer with headers was read.
    :param shared_until: others count as sharing until then.
    :param last_adjust: when the shared limit last moved.
    :param paused_until: no request leaves before then (after a 429).
    :param next_decrease: no second cut before then.
    :param slack: seconds added to the expiry of our oldest send before its slot is used again.
    :param sharers: how many tasks share the app's budget when known (0: unknown).
    :param slack_widened_at: when the slack last widened or narrowed (see ``slack_calm_windows``).
    """

    limit: float
    slack: float
    others: float = 0.0
    floor: float | None = None
    floor_at: float = 0.0
    first_seen: float | None = None
    shared_until: float = -math.inf
    last_adjust: float | None = None
    paused_until: float = 0.0
    next_decrease: float = 0.0
    sharers: int = 0
    slack_widened_at: float = -math.inf

    def shared(self, now: float) -> bool:
        """Whether others spend the same budget (then requests are paced)."""
        return now < self.shared_until


def initial_slack(tuning: LimiterTuning, window_s: float) -> float:
    """The time slack a limiter starts with (and narrows back to): ``slack_ratio`` of the window,
    at least ``min_slack_s``, at most ``max_slack`` of it."""
    return min(tuning.max_slack * window_s, max(tuning.slack_ratio * window_s, tuning.min_slack_s))


def _calmer_slack(state: LimiterState, now: float, window_s: float, tuning: LimiterTuning) -> LimiterState:
    """Narrow a widened slack by ``slack_growth`` after ``slack_calm_windows`` without a 429."""
    base = initial_slack(tuning, window_s)
    if state.slack <= base or now - state.slack_widened_at < tuning.slack_calm_windows * window_s:
        return state
    return dataclasses.replace(
        state, slack=max(base, state.slack / tuning.slack_growth), slack_widened_at=now
    )


def _threshold(maximum: int, tuning: LimiterTuning) -> float:
    return max(0.8, 0.8 * math.ceil(maximum * tuning.active_share))


def _track_others(state: LimiterState, obs: Observation, tuning: LimiterTuning) -> tuple[LimiterState, bool]:
    """Update the count of others; say whether they are spending the budget during our run."""
    now = obs.now
    used = max(obs.maximum - obs.remaining, 1)
    others_now = float(max(used - obs.ours, 0))
    weight = tuning.smoothing if state.last_adjust is not None else 1.0
    others = state.others + weight * (others_now - state.others)
    first_seen = now if state.first_seen is None else state.first_seen
    fresh_floor = state.floor is not None and now - state.floor_at <= obs.interval_s
    growth = others_now - state.floor if fresh_floor and state.floor is not None else 0.0
    floor, floor_at = state.floor, state.floor_at
    others_max = float(max(used - (obs.ours if obs.ours_min is None else obs.ours_min), 0))
    if not fresh_floor or floor is None or others_max <= floor:
        floor, floor_at = others_max, now
    threshold = _threshold(obs.maximum, tuning)
    # A single request of others more or less is arrival jitter, not growth.
    grew = growth >= max(2.0, threshold)
    # One interval after our first answer, every request of others in the window was sent during
    # our run; before that, only growth shows spending (a finished task's requests do not grow).
    settled = now - first_seen > obs.interval_s
    active = grew or (settled and others >= threshold)
    shared_until = now + 2 * obs.interval_s if active else state.shared_until
    new = dataclasses.replace(
        state, others=others, floor=floor, floor_at=floor_at, first_seen=first_seen, shared_until=shared_until
    )
    return new, others >= threshold


def _known_aim(sharers: int, maximum: int, tuning: LimiterTuning) -> float:
    """What N told tasks aim at together: ``known_ratio`` of ``Max``, less a margin for their phases.

    Each paced task has ``floor(r)`` or ``ceil(r)`` requests in any window, depending on where the
    window starts: the app's count varies by up to about ``sqrt(N) / 2`` around the sum of the
    shares (independent phases), so keep ``told_margin x sqrt(N)`` below ``Max`` besides.
    """
    return max(1.0, min(tuning.known_ratio * maximum, maximum - tuning.told_margin * math.sqrt(sharers)))


def _our_rate(obs: Observation) -> float:
    """Our requests per server window, estimated without bias from one answer.

    Our count is known within the time slack: ``ours`` counts every send the server may have
    counted, ``ours_min`` those it certainly did; take the middle. And the answered request was
    counted in a window that ends at its own arrival: a paced task sending ``r`` per window (``r``
    not an integer) always has ``floor(r) + 1`` in such a window, half a request more than its
    rate on average. At 1-3 requests per window that is a sixth to a half of the share, and summed
    over 32-64 tasks it pushes the app a quarter over the aim.
    """
    low = obs.ours if obs.ours_min is None else obs.ours_min
    return max((obs.ours + low) / 2 - 0.5, 0.0)


def _target(state: LimiterState, obs: Observation, used: int, tuning: LimiterTuning, scale: float) -> float:
    """Our requests per server window that make the app's total the aim (see :func:`control_law`)."""
    if state.sharers > 1:
        # The number of tasks sharing the app is known (a mapped task's map length, say): each gets
        # an equal part of the aim, and the divisor takes the sum of those parts out again, so the
        # targets of N tasks add up to the aim exactly (no per-task bonus: N bonuses would push
        # the sum a quarter over the aim at N = 64). The headers alone cannot tell that number,
        # and an equal part sized without it overshoots (its sum grows with the number of tasks).
        aim = _known_aim(state.sharers, obs.maximum, tuning)
        fair = tuning.even * aim
        # A paced task sends at most its limit: a count that says more is the count's granularity.
        ours = min(_our_rate(obs), state.limit / scale)
        return (ours + fair / state.sharers) * aim / (used + fair)
    aim = tuning.shared_ratio * obs.maximum
    return (obs.ours + tuning.bonus) * aim / used


def control_law(
    state: LimiterState,
    obs: Observation,
    *,
    cap: float,
    window_s: float,
    tuning: LimiterTuning = DEFAULT_TUNING,
) -> LimiterState:
    """The limiter's reaction to one answer: a pure function of (state, observation).

    :param state: the limiter's state before the answer.
    :param obs: the answer.
    :param cap: the configured budget per window (``max_requests_per_10s`` x ``safety_ratio``).
    :param window_s: our window in seconds (the server's interval may differ: counts are scaled).
    :param tuning: the constants.
    :returns: the new state.
    """
    scale = window_s / obs.interval_s  # server counts -> counts per our window
    cap = min(cap, max(1.0, math.floor(obs.maximum * scale)))
    state = dataclasses.replace(state, limit=min(state.limit, cap))
    if obs.now - obs.sent_at > obs.interval_s:
        return state  # a very late answer says nothing about the current window
    was_shared = state.shared(obs.now)
    first_answer = state.first_seen is None
    first_seen = obs.now if state.first_seen is None else state.first_seen
    state, others_present = _track_others(state, obs, tuning)
    now, used = obs.now, max(obs.maximum - obs.remaining, 1)
    unconfirmed = others_present and obs.sent_at < first_seen
    if unconfirmed and not state.shared(now) and obs.remaining <= used - obs.ours:
        # A crowded start: too little left for one more request of each process that may be
        # starting with us. Share from the start instead of confirming.
        state = dataclasses.replace(state, shared_until=now + 2 * obs.interval_s)
    told_start = state.sharers > 1 and obs.sent_at < first_seen and not state.shared(now)
    if told_start:
        # Told that N tasks share the app: every answer to a request sent before our first answer
        # may predate the others' arrivals, so do not grow from it: share from the start.
        state = dataclasses.replace(state, shared_until=now + 2 * obs.interval_s)
    if not state.shared(now):
        state = _calmer_slack(state, now, window_s, tuning)
        return _alone(state, obs, cap, scale, others_present, unconfirmed, first_answer, tuning)
    return _sharing(state, obs, cap, scale, was_shared, told_start, first_seen, tuning)


def _alone(
    state: LimiterState,
    obs: Observation,
    cap: float,
    scale: float,
    others_present: bool,
    unconfirmed: bool,
    first_answer: bool,
    tuning: LimiterTuning,
) -> LimiterState:
    """Alone: the whole budget. Quiet others (requests of a task that ended): what the window has
    left for us, unpaced, from the start level. One more request per answer, up to that."""
    now, used = obs.now, max(obs.maximum - obs.remaining, 1)
    room = cap
    limit = state.limit + 1.0 if now >= state.paused_until else state.limit
    if others_present:
        room = max(1.0, min(cap, (obs.maximum - (used - obs.ours)) * scale))
        if unconfirmed:
            # Not confirmed yet: only an answer to a request sent after the first answer can
            # show whether the count of others grows. Until then, one more request (the later
            # answers of a first burst add none).
            room = min(room, obs.ours + 1.0 if first_answer else state.limit)
        else:
            limit = max(limit, math.ceil(cap * tuning.start))  # confirmed: as if alone
    return dataclasses.replace(state, limit=max(1.0, min(limit, room)), last_adjust=now)


def _sharing(
    state: LimiterState,
    obs: Observation,
    cap: float,
    scale: float,
    was_shared: bool,
    told_start: bool,
    first_seen: float,
    tuning: LimiterTuning,
) -> LimiterState:
    """Others spend the budget: from a starting share, move towards :func:`_target`."""
    now, used = obs.now, max(obs.maximum - obs.remaining, 1)
    aim = tuning.shared_ratio * obs.maximum
    limit = state.limit
    equal = (
        max(1.0, _known_aim(state.sharers, obs.maximum, tuning) / state.sharers * scale)
        if state.sharers > 1
        else 0.0
    )
    if not was_shared and state.sharers > 1:
        # Told N: start from the equal share (a told start sends it at once, paced).
        limit = equal if told_start else min(limit, equal)
    elif not was_shared:
        # Someone else started spending: each request in the window may be another process (they
        # start together), and one more may come: start from that part of the aim.
        limit = max(1.0, min(limit, aim / (used + 1) * scale))
    elapsed = 0.0 if state.last_adjust is None else min(max(now - state.last_adjust, 0.0), obs.interval_s)
    if now >= state.paused_until:
        # Scale what we sent in the server's window by aim / used: the targets of all processes
        # add up to the aim whatever the delay of the answers, an early finisher's share goes to
        # the others as soon as the headers show it, and the equal bonus evens shares out.
        target = _target(state, obs, used, tuning, scale) * scale
        if state.sharers > 1 and now - first_seen <= obs.interval_s:
            # Told N, first interval: the window still fills (the others' paced requests arrive
            # after ours were counted), so a low count is no room: keep to the equal share.
            target = min(target, equal)
        limit += min(1.0, tuning.tracking * elapsed / obs.interval_s) * (target - limit)
    return dataclasses.replace(state, limit=max(1.0, min(limit, cap)), last_adjust=now)


def after_429(
    state: LimiterState,
    now: float,
    retry_after: float | None,
    jitter: float,
    *,
    window_s: float,
    tuning: LimiterTuning = DEFAULT_TUNING,
) -> LimiterState:
    """The limiter's reaction to a 429 ``TEN_SECONDLY_ROLLING`` (after :func:`control_law` of its headers).

    Alone, the 429 came from arrival jitter: every thread waits two slacks and the slack widens by
    ``slack_growth`` (up to ``max_slack``); the limit stays. Shared, every thread pauses
    ``pause x (0.5 + jitter)`` windows (or ``retry_after`` when longer) and the limit is cut to
    ``cut`` of itself, once per pause.

    :param jitter: a float in ``[0, 1)``.
    """
    if not state.shared(now):
        slack = min(tuning.max_slack * window_s, max(state.slack * tuning.slack_growth, 0.005))
        paused_until = max(state.paused_until, now + 2 * slack)
        return dataclasses.replace(state, slack=slack, paused_until=paused_until, slack_widened_at=now)
    if now < state.paused_until:
        return state  # one pause for the requests refused together
    mean = tuning.told_pause if state.sharers > 1 else tuning.pause
    pause = max(retry_after or 0.0, window_s * mean * (0.5 + jitter))
    limit, next_decrease = state.limit, state.next_decrease
    if now >= state.next_decrease:
        limit, next_decrease = max(1.0, limit * tuning.cut), now + pause
    return dataclasses.replace(state, limit=limit, paused_until=now + pause, next_decrease=next_decrease)


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

    The window bookkeeping (our send times, pacing) lives here, under a lock; how the limit reacts
    to answers and 429s is :func:`control_law` and :func:`after_429`.

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
            raise ValueError(
                f"slack_ratio must be between 0 and {tuning.max_slack}, got {tuning.slack_ratio!r}."
            )
        self.budget = budget
        self.window_s = window_s
        self.tuning = tuning
        self._cap = float(max(1, math.floor(budget * safety_ratio)))
        # Until HubSpot's first rate-limit headers say whether others share the budget, send a
        # small probe (for at most one window, in case the server sends no headers).
        self._probe = probe
        self._probe_size = max(1, math.floor(self._cap * tuning.probe_share))
        self._probe_until: float | None = None
        # A run announced as short (:meth:`expect`) sends a larger first burst instead: a round
        # trip is a large part of its time, and sixteen such bursts fit in one window.
        self._first_burst = max(self._probe_size, math.floor(self._cap * tuning.first_burst))
        if sharers:
            # Told how many tasks share the budget: each is paced at its equal share from its first
            # answer, so a burst gains it nothing, and bursts sent together upset the shared law
            # (16 told tasks of 20 requests: 4-6 429s and 0.65 of the ceiling with bursts of 3,
            # none and 0.90 with the probe, in the simulation).
            self._first_burst = self._probe_size
        self._short_run = max(self._first_burst, math.floor(self._cap * tuning.short_run))
        self._run_total: int | None = None  # the run's requests, when announced (:meth:`expect`)
        slack = initial_slack(tuning, window_s)
        start = max(1.0, math.ceil(self._cap * tuning.start)) if probe else self._cap
        self._state = LimiterState(limit=start, slack=slack, sharers=sharers or 0)
        self._rng = rng
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        # Threads waiting in :meth:`acquire` (with the real sleep) wake at once when an answer or
        # an announcement may have freed room, instead of at their next periodic check.
        self._wake = threading.Condition(self._lock)
        self._sends: list[float] = []  # our send times, ascending, kept for two windows
        self._local = threading.local()  # the send time of each thread's request in flight
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
            # Told N and paced at window / limit, a fractional share (1.5 per window at 64
            # sharers) needs a count gate of ceil(limit): with int() it would get 1 per window.
            # (Not told, the law's shares are not unbiased enough for that: int() is a margin.)
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
        total = self._run_total
        if total is None or total > self._short_run:
            return self._probe_size
        return max(self._probe_size, min(total, self._first_burst))

    def expect(self, total: int) -> None:
        """Announce how many requests the current run sends in all, those already sent included.

        A hint, never required. Before the first rate-limit headers, a run of at most
        ``tuning.short_run`` of the budget sends ``tuning.first_burst`` of it (all of it when
        smaller) instead of the probe: a short task does not spend a round trip waiting for
        headers, and sixteen such bursts started together still fit in one window (with
        ``sharers=N`` the probe stays: see the module doc). Nothing more leaves before the headers than
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
            sent_at = getattr(self._local, "sent_at", None)
        self._local.sent_at = None
        maximum = _header(headers, HEADER_MAX)
        remaining = _header(headers, HEADER_REMAINING)
        interval_ms = _header(headers, HEADER_INTERVAL)
        if maximum is None or remaining is None or maximum <= 0:
            with self._lock:
                if self._probe and self._status is None:
                    # a server without headers: nothing to share
                    self._state = dataclasses.replace(self._state, limit=self._cap)
                self._probe = False
                self._wake.notify_all()
            return None
        interval_ms = interval_ms if interval_ms and interval_ms > 0 else int(self.window_s * 1000)
        with self._lock:
            now = self._clock()
            status = RateLimitStatus(maximum, remaining, interval_ms, now)
            self._status = status
            sent = now if sent_at is None else sent_at
            interval_s = interval_ms / 1000.0
            # Our sends the server may have counted: arrival jitter (up to about the slack) can
            # move a send of ours across either end of the span, so count them all.
            slack = self._state.slack
            ours = self._count_since(sent - interval_s - slack, sent + slack)
            ours_min = min(ours, self._count_since(sent - interval_s + slack, sent - slack) + 1)
            obs = Observation(now, sent, maximum, remaining, interval_s, ours, ours_min)
            was_shared = self._state.shared(now)
            self._state = control_law(
                self._state, obs, cap=self._cap, window_s=self.window_s, tuning=self.tuning
            )
            if self._state.shared(now) and not was_shared:
                # Pacing starts from the new share, one period after our last send plus a random
                # phase: tasks that start sharing together (the same headers) interleave instead
                # of sending their paced requests in the same instant.
                period = self.window_s / max(self._state.limit, 1.0)
                last = self._sends[-1] if self._sends else -math.inf
                self._next_send = max(now, last + period) + period * self._rng()
            self._wake.notify_all()
            return status

    def penalize(self, retry_after: float | None = None) -> None:
        """After a 429 ``TEN_SECONDLY_ROLLING``: wait, and if others share the budget, back off.

        Call it after :meth:`observe` of the 429's headers; see :func:`after_429`.

        :param retry_after: seconds HubSpot asked to wait (honoured when the budget is shared).
        """
        with self._lock:
            now = self._clock()
            # Pacing goes on after the pause (the count gate alone lets ceil(limit) requests go
            # at once: at 64 sharers of 1.5 each, 128 per window that keep it full of 429s).
            jitter = self._rng()
            self._state = after_429(
                self._state, now, retry_after, jitter, window_s=self.window_s, tuning=self.tuning
            )
