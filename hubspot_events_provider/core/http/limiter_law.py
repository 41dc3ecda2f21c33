"""The limiter's control law: how its limit and slack react to answers and 429s.

Pure functions of (:class:`LimiterState`, :class:`Observation`), no threads, no clock: the
window bookkeeping that feeds them lives in :mod:`.limiter`. Every constant is in one frozen
:class:`LimiterTuning`. ``Max - Remaining`` of an answer is what the whole app spent in the
server's window when our request arrived; our own sends in that span are known; the rest
(*others*) was spent by other processes. The phases (decision records in ``docs/adr/``):

- **Start.** Before the first headers a process sends ``probe_share`` of the budget (at least one
  request), then ``start`` of it, growing by one request per answer while nobody else spends the
  budget. A run that announces its size and is *short* (at most ``short_run`` of the budget) sends
  a first burst of ``first_burst`` instead of the probe; tasks told their number of sharers keep
  the probe (paced at their equal share from the first answer, a burst gains them nothing).
- **Quiet others** (a task that just ended: its requests are still in the window, but their count
  does not grow). Until one interval has passed since our first answer, others whose count does not
  grow are not sharing: the limit is what the window has left for us (``Max - others``), unpaced.
  Confirming it costs one round trip with one request (the later answers of a first burst add
  none), because the others may be tasks starting with us that would do the same (within that
  interval one request of growth is theirs: ``start_growth``). A *crowded
  start* (too little left for one more request of each possible starter) shares at once.
- **Shared** (others' count grew by ``active_share`` of ``Max`` since the lowest count seen in the
  last interval, or others still spend that much one interval after our start). The limit drops to
  ``aim / (used + 1)`` (``aim = shared_ratio x Max``), sends are paced evenly, and at each answer
  the limit moves towards ``(ours + bonus) x aim / used`` (weight ``tracking`` per window): the
  targets of all processes add up to the aim, and an early finisher's share is taken over as soon
  as the headers show it gone. ``bonus`` is 0 by default (its sum grows with the number of tasks,
  which the headers cannot tell): shares keep their ratios, politeness over evenness.
- **Told N** (``sharers=N``): a task shares from its first answer at the equal share ``aim / N``
  (``aim = min(known_ratio x Max, Max - told_margin x sqrt(N))``), keeps to it for one interval
  while the window fills, then moves towards ``(ours + even x aim / N) x aim / (used + even x aim)``,
  with ``ours`` our unbiased rate (never more than our paced limit).
- **429** (:func:`after_429`): alone, it is arrival jitter: a wait of two slacks and a wider slack,
  which narrows again after ``slack_calm_windows`` calm windows. Shared, every thread pauses
  ``pause`` of a window (``told_pause`` when told N), jittered by +-50 %, and the limit is cut to
  ``cut`` of itself, once per pause.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

__all__ = [
    "DEFAULT_TUNING",
    "LimiterState",
    "LimiterTuning",
    "Observation",
    "after_429",
    "control_law",
    "initial_slack",
]


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
        same for every process, so unequal shares converge). Zero by default: without the number
        of sharers its sum (``N x bonus``) cannot be taken out again, and with the half request
        our count at our own arrival holds too many, it pushed N tasks over the window at a small
        ``Max`` (8 tasks of 19 per window: 4-8 % 429s simulated, 6.1 % measured).
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
    :param short_run: (start phase) a run announced with :meth:`.limiter.RollingWindowLimiter.expect` at
        most this share of the budget is short: a round trip is a large part of its time, so it
        starts with ``first_burst`` (all of it when smaller). Longer runs keep the probe: one round
        trip more is little to them, and they are the ones that ramp up and share for windows.
    :param told_margin: with a known number of sharers N, the aim is at most
        ``Max - told_margin x sqrt(N)``: each paced task has ``floor`` or ``ceil`` of its share in a
        window depending on where it starts, so the app's count varies by about ``sqrt(N) / 2``.
    :param told_pause: mean pause after a 429 of a task told the number of sharers, in windows
        (refused requests count in HubSpot's window: a retry within it finds it still full).
    :param start_growth: within one interval of our first answer, when others were in the window
        from that answer on, growth of their count by this many requests already shows others
        sending (otherwise the threshold is two requests, or ``active_share`` of ``Max``): tasks
        started together send one confirming request each after their probe, and at 19 per window
        a confirmation missed their growth by one.
    """

    probe_share: float = 1 / 64
    start: float = 0.25
    shared_ratio: float = 0.9
    active_share: float = 0.05
    bonus: float = 0.0
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
    # The constants below follow the ones above so that positional use keeps its meaning.
    first_burst: float = 1 / 16
    short_run: float = 1 / 4
    slack_calm_windows: float = 10.0
    told_margin: float = 1.25
    told_pause: float = 1.0
    start_growth: float = 1.0


#: The tuning every limiter uses unless given another.
DEFAULT_TUNING = LimiterTuning()


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
    # One interval after our first answer, every request of others in the window was sent during
    # our run; before that, only growth shows spending (a finished task's requests do not grow).
    settled = now - first_seen > obs.interval_s
    # A single request of others more or less is arrival jitter, not growth; except while starting
    # among others already there (the probes of tasks started with us): the others' count is a
    # lower bound against a floor taken as an upper bound, so one more request is a starter's
    # confirmation. A lone task (no others at its first answer) keeps two: under load, one of its
    # own late arrivals may be counted as someone else's.
    crowd = not settled and state.floor is not None and state.floor >= 1.0
    grew = growth >= max(tuning.start_growth if crowd else 2.0, threshold)
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
    rate on average: at a few requests per window that is a large part of the share, and it adds
    up over many tasks.
    """
    low = obs.ours if obs.ours_min is None else obs.ours_min
    return max((obs.ours + low) / 2 - 0.5, 0.0)


def _target(state: LimiterState, obs: Observation, used: int, tuning: LimiterTuning, scale: float) -> float:
    """Our requests per server window that make the app's total the aim (see :func:`control_law`)."""
    if state.sharers > 1:
        # The number of tasks sharing the app is known (a mapped task's map length, say): each gets
        # an equal part of the aim, and the divisor takes the sum of those parts out again, so the
        # targets of N tasks add up to the aim exactly (no per-task bonus: N bonuses push the sum
        # over the aim). The headers alone cannot tell that number, and an equal part sized
        # without it overshoots (its sum grows with the number of tasks).
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
