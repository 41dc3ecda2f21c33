"""Fair shares of the shared budget store, against a real redis-server on loopback.

The contract is the comment block of ``_ACQUIRE_LUA`` and the docstrings of
:meth:`RedisBudgetStore.acquire` / :meth:`RedisBudgetStore.new_ticket` (ADRs 58 and 59): waiting
tickets are served least-served task first (then the first to ask), a task new to the budget starts
one window's equal share below the least-served task holding grants, a sleeping ticket never holds
a free slot back, a dead ticket leaves the queue after its wait plus ``QUEUE_GRACE_S``, a grant's
slack is kept in its score, idle keys expire, and :class:`StoreGate` keeps one ticket per task in
the queue. Times are Redis's own (the answers' ``server_time`` and ``wait_s``, ``TIME``); the tests
sleep on it and never assert a local duration.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from hubspot_events_provider.core.http import budget_store
from hubspot_events_provider.core.http.budget_store import KEY_PREFIX, RedisBudgetStore, StoreAnswer, Verdict
from hubspot_events_provider.core.http.limiter import RollingWindowLimiter
from hubspot_events_provider.core.http.limiter_law import DEFAULT_TUNING, initial_slack
from hubspot_events_provider.core.http.store_gate import COLD_START_SLACK_S, StoreGate
from tests.redis_server import RedisServer

if TYPE_CHECKING:
    import redis

MakeStore = Callable[[str, int, float], RedisBudgetStore]


@pytest.fixture
def log() -> logging.Logger:
    return logging.getLogger("tests.store_fairness")


@pytest.fixture
def make_store(redis_server: RedisServer, log: logging.Logger) -> Iterator[MakeStore]:
    """Store instances (one per task) on ``KEY_PREFIX + key``, closed after the test."""
    made: list[RedisBudgetStore] = []

    def make(key: str, budget: int, window_s: float) -> RedisBudgetStore:
        store = RedisBudgetStore(
            redis_server.url, key=KEY_PREFIX + key, budget=budget, window_s=window_s, log=log
        )
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def probe(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A plain client to read the store's keys and Redis's clock."""
    import redis

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.close()


def task_of(store: RedisBudgetStore) -> str:
    """The task part of the store's tickets (``<task>:<serial>``)."""
    return store.new_ticket().partition(":")[0]


def served(probe: redis.Redis, key: str) -> dict[str, int]:
    """The ``<key>:served`` hash: requests served to each task the store knows."""
    return {task: int(count) for task, count in probe.hgetall(f"{KEY_PREFIX}{key}:served").items()}


def redis_now(probe: redis.Redis) -> float:
    """Redis's clock (``TIME``), seconds since the epoch."""
    seconds, micros = probe.time()
    return seconds + micros / 1e6


def sleep_until(probe: redis.Redis, at: float) -> None:
    """Sleep until Redis's clock reads ``at`` (never shorter; a loaded machine may sleep longer)."""
    left = at - redis_now(probe)
    if left > 0:
        time.sleep(left)


def admitted(answer: StoreAnswer) -> StoreAnswer:
    assert answer.verdict is Verdict.ADMITTED, answer
    assert answer.server_time is not None
    return answer


def waiting(answer: StoreAnswer) -> StoreAnswer:
    assert answer.verdict is Verdict.WAIT, answer
    assert answer.server_time is not None
    return answer


def wakes_at(answer: StoreAnswer) -> float:
    """When a WAIT answer's turn comes, on Redis's clock."""
    assert answer.server_time is not None
    return answer.server_time + answer.wait_s


def test_the_least_served_task_goes_first_then_the_first_to_ask(
    make_store: MakeStore, probe: redis.Redis
) -> None:
    window, gap = 0.7, 0.35
    a, b = make_store("least", 2, window), make_store("least", 2, window)
    task_a, task_b = task_of(a), task_of(b)
    first = admitted(a.acquire(ticket=a.new_ticket()))
    time.sleep(gap)  # the two grants leave `gap` apart: one slot frees at a time
    second = admitted(a.acquire(ticket=a.new_ticket()))
    a_ticket, b_ticket = a.new_ticket(), b.new_ticket()
    waiting(a.acquire(ticket=a_ticket))  # A asks first
    waiting(b.acquire(ticket=b_ticket))
    assert served(probe, "least") == {task_a: 2, task_b: 1}  # B joined at 2 - ceil(2 / 2)
    queue = f"{KEY_PREFIX}least:queue"
    assert probe.zscore(queue, a_ticket) < probe.zscore(queue, b_ticket)

    sleep_until(probe, first.server_time + window + 0.02)  # one slot is free; both tickets are awake
    refused = waiting(a.acquire(ticket=a_ticket))
    assert refused.used == 1  # a free slot, yet A (served 2) waits behind B (served 1)
    admitted(b.acquire(ticket=b_ticket))
    assert served(probe, "least") == {task_a: 2, task_b: 2}

    # Equal served counts: A's ticket asked long before B's next one, so A goes first.
    b_next = b.new_ticket()
    waiting(b.acquire(ticket=b_next))
    sleep_until(probe, second.server_time + window + 0.02)  # the second grant left: one slot free
    behind = waiting(b.acquire(ticket=b_next))
    assert behind.used == 1
    admitted(a.acquire(ticket=a_ticket))


def test_a_new_task_starts_one_equal_share_below_the_least_served_holder(
    make_store: MakeStore, probe: redis.Redis
) -> None:
    budget, window = 12, 5.0  # no grant leaves the window during the test
    a, b, c, d = (make_store("newcomer", budget, window) for _ in range(4))
    task_a, task_b, task_c, task_d = (task_of(s) for s in (a, b, c, d))
    admitted(a.acquire(ticket=a.new_ticket()))
    assert served(probe, "newcomer") == {task_a: 1}  # nobody held grants: A started at 0
    for _ in range(6):
        admitted(a.acquire(ticket=a.new_ticket()))
    admitted(b.acquire(ticket=b.new_ticket()))
    # One holder (A, 7): B starts ceil(12 / 2) = 6 below it, at 1, and is served 1.
    assert served(probe, "newcomer") == {task_a: 7, task_b: 2}
    for _ in range(4):
        admitted(b.acquire(ticket=b.new_ticket()))
    c_ticket = c.new_ticket()
    assert waiting(c.acquire(ticket=c_ticket)).used == budget
    # Two holders (A 7, B 6): C starts ceil(12 / 3) = 4 below the least served of them.
    assert served(probe, "newcomer") == {task_a: 7, task_b: 6, task_c: 2}
    waiting(d.acquire(ticket=d.new_ticket()))
    # C waits but holds no grant: D is placed against the holders (6 - 4), not against C (2 - 4 -> 0).
    assert served(probe, "newcomer")[task_d] == 2
    waiting(c.acquire(ticket=c_ticket))
    assert served(probe, "newcomer")[task_c] == 2  # a known task is not placed again

    # Never below zero: the holder was served 1, one equal share is ceil(4 / 2) = 2.
    e, f = make_store("floor", 4, window), make_store("floor", 4, window)
    admitted(e.acquire(ticket=e.new_ticket()))
    for _ in range(3):
        admitted(e.acquire())  # one-off asks hold grants without counting as served
    waiting(f.acquire(ticket=f.new_ticket()))
    assert served(probe, "floor") == {task_of(e): 1, task_of(f): 0}


def test_a_ticket_asleep_until_a_later_turn_does_not_hold_a_free_slot_back(
    make_store: MakeStore, probe: redis.Redis
) -> None:
    budget, window = 3, 5.0  # no grant leaves the window during the test
    asker, sleeper = make_store("sleeper", budget, window), make_store("sleeper", budget, window)
    for _ in range(2):
        admitted(asker.acquire(ticket=asker.new_ticket()))
    # The sleeper asks for less of the budget (a gate that sees spending outside the store does):
    # with 2 grants in the window its turn is when the oldest leaves, seconds from now.
    s_ticket = sleeper.new_ticket()
    told = waiting(sleeper.acquire(budget=2, ticket=s_ticket))
    assert told.wait_s > 4.0
    # It ranks ahead of the asker: less served (it joined at 2 - ceil(2 / 2)), and asked first.
    assert served(probe, "sleeper") == {task_of(asker): 2, task_of(sleeper): 1}
    answer = admitted(asker.acquire(ticket=asker.new_ticket()))
    assert answer.used == budget  # the asker took the one free slot ...
    assert answer.server_time is not None
    assert wakes_at(told) > answer.server_time  # ... while the sleeper, ahead of it, slept
    assert probe.zscore(f"{KEY_PREFIX}sleeper:queue", s_ticket) is not None  # still queued, in its place


def test_a_ticket_not_asked_again_leaves_the_queue_after_its_wait_and_the_grace(
    make_store: MakeStore, probe: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    grace, window = 0.4, 0.3
    monkeypatch.setattr(budget_store, "QUEUE_GRACE_S", grace)  # read by acquire() at each call
    live, dead = make_store("dead", 1, window), make_store("dead", 1, window)
    held = admitted(live.acquire(ticket=live.new_ticket()))
    d_ticket = dead.new_ticket()
    told = waiting(dead.acquire(ticket=d_ticket))  # this task never asks again
    assert wakes_at(told) == pytest.approx(held.server_time + window, abs=2e-6)
    due = probe.zscore(f"{KEY_PREFIX}dead:due", d_ticket) / 1e6
    assert due == pytest.approx(wakes_at(told) + grace, abs=2e-6)  # the patched grace reached ARGV
    assert served(probe, "dead") == {task_of(live): 1, task_of(dead): 0}  # the dead ticket ranks first

    sleep_until(probe, wakes_at(told) + 0.02)  # the slot is free; the dead ticket is awake, unasked
    l_ticket = live.new_ticket()
    blocked = live.acquire(ticket=l_ticket)
    assert blocked.server_time is not None
    if blocked.server_time < due:  # (unless the machine stalled past the grace)
        assert blocked.verdict is Verdict.WAIT
        assert blocked.used == 0  # held back by the dead ticket ahead, not by the window
    sleep_until(probe, due + 0.02)
    admitted(live.acquire(ticket=l_ticket))
    assert probe.zscore(f"{KEY_PREFIX}dead:queue", d_ticket) is None
    assert probe.zscore(f"{KEY_PREFIX}dead:due", d_ticket) is None


def test_a_grant_keeps_its_slot_for_the_window_plus_its_slack(
    make_store: MakeStore, probe: redis.Redis
) -> None:
    window, slack = 0.5, 0.3
    slow, plain = make_store("slack-on", 1, window), make_store("slack-off", 1, window)
    with_slack = admitted(slow.acquire(slack_s=slack, ticket=slow.new_ticket()))
    without = admitted(plain.acquire(ticket=plain.new_ticket()))
    assert with_slack.server_time is not None
    ((_, score),) = probe.zrange(f"{KEY_PREFIX}slack-on", 0, -1, withscores=True)
    assert score == pytest.approx((with_slack.server_time + slack) * 1e6, abs=2)  # the slack is in the score
    assert window * 1000 < probe.pttl(f"{KEY_PREFIX}slack-on") <= (window + slack) * 1000
    assert wakes_at(waiting(slow.acquire())) == pytest.approx(
        with_slack.server_time + window + slack, abs=2e-6
    )
    assert wakes_at(waiting(plain.acquire())) == pytest.approx(without.server_time + window, abs=2e-6)

    sleep_until(probe, with_slack.server_time + window + 0.1)  # past the plain window
    admitted(plain.acquire())
    held = slow.acquire()
    assert held.server_time is not None
    if held.server_time < with_slack.server_time + window + slack:  # (unless the machine stalled 0.2 s)
        assert wakes_at(waiting(held)) == pytest.approx(with_slack.server_time + window + slack, abs=2e-6)
    sleep_until(probe, with_slack.server_time + window + slack + 0.02)
    assert slow.acquire().admitted


def test_an_earlier_grant_with_more_slack_outlives_a_later_one(
    make_store: MakeStore, probe: redis.Redis
) -> None:
    window, slack = 0.5, 0.3
    cold, warm = make_store("mixed-slack", 2, window), make_store("mixed-slack", 2, window)
    early = admitted(cold.acquire(slack_s=slack, ticket=cold.new_ticket()))  # counts until +0.8 s
    late = admitted(warm.acquire(ticket=warm.new_ticket()))  # counts until its own +0.5 s
    assert early.server_time is not None
    assert late.server_time is not None
    counts_until = early.server_time + window + slack
    sleep_until(probe, late.server_time + window + 0.02)  # the late grant left; the early one counts
    first, second = warm.acquire(), warm.acquire()
    assert second.server_time is not None
    if second.server_time < counts_until:  # (unless the machine stalled 0.25 s)
        assert first.admitted
        assert first.used == 2  # the early grant and this one
        assert second.verdict is Verdict.WAIT
    # Whatever the timing: after a grant, the key lives until its grant with the most slack leaves.
    cold.acquire(slack_s=slack, ticket=cold.new_ticket())
    held_until = max(score for _, score in probe.zrange(f"{KEY_PREFIX}mixed-slack", 0, -1, withscores=True))
    warm.acquire(ticket=warm.new_ticket())
    expires_at = redis_now(probe) + probe.pttl(f"{KEY_PREFIX}mixed-slack") / 1000
    assert expires_at >= held_until / 1e6 + window - 0.002


def test_a_task_neither_holding_nor_waiting_is_forgotten_and_idle_keys_expire(
    make_store: MakeStore, probe: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    grace, window = 0.5, 0.3
    monkeypatch.setattr(budget_store, "QUEUE_GRACE_S", grace)
    a, b, c, d = (make_store("idle", 1, window) for _ in range(4))
    task_a, task_b, task_c, task_d = (task_of(s) for s in (a, b, c, d))
    held_a = admitted(a.acquire(ticket=a.new_ticket()))
    b_ticket = b.new_ticket()
    waiting(b.acquire(ticket=b_ticket))
    assert served(probe, "idle") == {task_a: 1, task_b: 0}  # A holds a grant: known
    sleep_until(probe, held_a.server_time + window + 0.02)
    held_b = admitted(b.acquire(ticket=b_ticket))
    assert served(probe, "idle") == {task_b: 1}  # A's grant left and A does not wait: forgotten
    c_ticket = c.new_ticket()
    waiting(c.acquire(ticket=c_ticket))
    c_due = probe.zscore(f"{KEY_PREFIX}idle:due", c_ticket) / 1e6
    assert served(probe, "idle") == {task_b: 1, task_c: 0}
    sleep_until(probe, held_b.server_time + window + 0.02)  # B's grant left; C still waits
    last = d.acquire(ticket=d.new_ticket())
    assert last.server_time is not None
    if last.server_time < c_due:  # (unless the machine stalled past C's grace)
        assert last.verdict is Verdict.WAIT  # C, awake and asked first, is ahead of D
        assert served(probe, "idle") == {task_c: 0, task_d: 0}  # B forgotten, C kept while it waits
    else:
        assert task_b not in served(probe, "idle")

    # Nobody asks any more: every key of the budget expires by itself.
    names = [f"{KEY_PREFIX}idle{suffix}" for suffix in ("", ":queue", ":due", ":served")]
    ttls = {name: probe.pttl(name) for name in names}
    assert ttls[names[0]] == -2  # no grant left in the window: the sorted set is gone
    # The queue keys live the last wait plus the grace plus the script's 1 s margin (the served hash
    # at least two windows and the grace); never without an expiry (-1).
    longest_ms = (window + grace) * 1000 + 1000
    assert all(0 < ttls[name] <= longest_ms for name in names[1:]), ttls
    time.sleep(max(ttls.values()) / 1000 + 0.05)
    assert probe.exists(*names) == 0
    assert probe.keys(f"{KEY_PREFIX}*") == []


def test_the_wait_names_the_turn_among_the_awake_tickets(make_store: MakeStore, probe: redis.Redis) -> None:
    budget, window, gap = 3, 0.7, 0.15
    holder, a, b, c, d = (make_store("turn", budget, window) for _ in range(5))
    grants: list[int] = []  # µs on Redis's clock (no slack: the scores)

    def grant(answer: StoreAnswer) -> None:
        assert answer.server_time is not None
        grants.append(round(admitted(answer).server_time * 1e6))

    def check_wait(answer: StoreAnswer, awake_ahead: int) -> None:
        """The script's rule: admitted while fewer awake tickets are ahead than slots are free, else
        told the leaving of the (awake_ahead + 1 - free)-th oldest grant."""
        assert answer.server_time is not None
        now = round(answer.server_time * 1e6)
        in_window = sorted(g for g in grants if g > now - round(window * 1e6))
        ahead = awake_ahead - (budget - len(in_window))
        if ahead < 0:  # (only when the machine stalled while the next grant left)
            grant(answer)
            return
        assert answer.verdict is Verdict.WAIT, answer
        assert answer.used == len(in_window)
        expected = in_window[ahead] + round(window * 1e6) - now if ahead < len(in_window) else window * 1e6
        assert answer.wait_s * 1e6 == pytest.approx(expected, abs=2)

    for i in range(budget):
        if i:
            time.sleep(gap)  # the grants leave the window `gap` apart
        grant(holder.acquire(ticket=holder.new_ticket()))
    tickets = {s: s.new_ticket() for s in (a, b, c)}
    for store in (a, b, c):
        # Each asks while the ones before it sleep until their turn: they are not counted, and all
        # three are told the first grant's leaving.
        told = waiting(store.acquire(ticket=tickets[store]))
        assert wakes_at(told) == pytest.approx(grants[0] / 1e6 + window, abs=2e-6)
    sleep_until(probe, grants[0] / 1e6 + window + 0.01)  # A, B and C are awake; one slot is free
    grant(a.acquire(ticket=tickets[a]))  # the first to ask of the three (all served 1)
    d_answer = d.acquire(ticket=d.new_ticket())
    # D starts at 1 like B and C (the holders' least, A's 2, less ceil(3 / 3)) and asked after them.
    assert served(probe, "turn") == {
        task_of(holder): 3,
        task_of(a): 2,
        task_of(b): 1,
        task_of(c): 1,
        task_of(d): 1,
    }
    check_wait(d_answer, awake_ahead=2)  # B and C: with the window full, the 3rd oldest grant's leaving
    check_wait(c.acquire(ticket=tickets[c]), awake_ahead=1)  # B
    check_wait(b.acquire(ticket=tickets[b]), awake_ahead=0)


class _Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_gate_adds_the_cold_start_slack_in_its_first_window(
    make_store: MakeStore, probe: redis.Redis
) -> None:
    window = 1.0
    base = initial_slack(DEFAULT_TUNING, window)
    store = make_store("cold", 10, window)
    clock = _Clock(50.0)
    gate = StoreGate(store, RollingWindowLimiter(10, window), clock=clock)
    assert gate.slack == pytest.approx(base)
    clock.now = 100.0  # the first window starts with the first grant, not with the gate
    assert gate.grant_slack() == pytest.approx(base + COLD_START_SLACK_S)
    clock.now = 100.0 + window - 0.001
    assert gate.grant_slack() == pytest.approx(base + COLD_START_SLACK_S)
    clock.now = 100.0 + window
    assert gate.grant_slack() == pytest.approx(base)
    clock.now = 500.0
    assert gate.grant_slack() == pytest.approx(base)

    # Through take(): the slack reaches the grant's score; a widened slack gets the cold start too.
    clock2 = _Clock(0.0)
    gate2 = StoreGate(store, RollingWindowLimiter(10, window), clock=clock2)
    key = f"{KEY_PREFIX}cold"

    def take_and_score() -> tuple[float, float, float]:
        known = set(probe.zrange(key, 0, -1))
        before = redis_now(probe)
        assert gate2.take()
        after = redis_now(probe)
        ((_, score),) = [(m, sc) for m, sc in probe.zrange(key, 0, -1, withscores=True) if m not in known]
        return before, score / 1e6, after

    before, score, after = take_and_score()
    assert before + base + COLD_START_SLACK_S - 1e-6 <= score <= after + base + COLD_START_SLACK_S + 1e-6
    gate2.observe(429, {})  # a 429 on an admitted request widens the slack
    widened = gate2.slack
    assert widened == pytest.approx(base * DEFAULT_TUNING.slack_growth)
    assert gate2.grant_slack() == pytest.approx(widened + COLD_START_SLACK_S)
    clock2.now = window
    before, score, after = take_and_score()
    assert before + widened - 1e-6 <= score <= after + widened + 1e-6


def test_the_gate_keeps_one_ticket_per_task_in_the_queue(make_store: MakeStore, probe: redis.Redis) -> None:
    budget, window, threads, run_s = 3, 0.3, 3, 0.8
    gates = [
        StoreGate(make_store("one-ticket", budget, window), RollingWindowLimiter(budget, window))
        for _ in range(2)
    ]
    queue = f"{KEY_PREFIX}one-ticket:queue"
    samples: list[collections.Counter[str]] = []
    results: list[bool] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(collections.Counter(m.partition(":")[0] for m in probe.zrange(queue, 0, -1)))
            time.sleep(0.002)

    def send(gate: StoreGate, end: float) -> None:
        while time.monotonic() < end:
            results.append(gate.take())

    sampler = threading.Thread(target=sample)
    sampler.start()
    end = time.monotonic() + run_s
    workers = [threading.Thread(target=send, args=(gate, end)) for gate in gates for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    sampler.join()
    assert results
    assert all(results)
    assert len(results) > 2 * budget  # more requests than two windows hold: they had to wait
    tasks = {task_of(gate.store) for gate in gates}
    most = {task: max(s[task] for s in samples) for task in tasks}
    assert most == dict.fromkeys(tasks, 1), most  # each task waited, never with two tickets at once
    assert all(set(s) <= tasks for s in samples)


# --- Fairness end to end -------------------------------------------------------------------------
BUDGET, WINDOW_S, TASKS, THREADS = 10, 1.0, 4, 3
EARLY_S, RUN_S, MEASURED_S = 0.5, 4.5, 2.0


def _drive(
    store: RedisBudgetStore,
    turn: threading.Lock,
    start: float,
    end: float,
    send_s: float,
    grants: list[tuple[str, int]],
    errors: list[StoreAnswer],
) -> None:
    """One of a task's threads, taking slots as StoreGate.take() does, until ``end`` (epoch s)."""
    task = task_of(store)
    time.sleep(max(0.0, start - time.time()))
    while time.time() < end:
        with turn:  # the gate's turn: one thread of the task waits in the queue at a time
            ticket = store.new_ticket()
            while True:
                answer = store.acquire(ticket=ticket)
                if answer.admitted:
                    assert answer.server_time is not None
                    grants.append((task, round(answer.server_time * 1e6)))
                    break
                if answer.verdict is not Verdict.WAIT:
                    errors.append(answer)
                    return
                if time.time() + answer.wait_s >= end:
                    return  # the run ends before this ticket's turn
                time.sleep(answer.wait_s)
        time.sleep(send_s)  # the request the slot was taken for


#: How long each request of the end-to-end test takes after its slot.
SEND_S = 0.03


def _max_in_any_window(times_us: list[int], window_us: int) -> int:
    """The most grants inside any rolling window (t - window, t]."""
    ordered, most, first = sorted(times_us), 0, 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - window_us:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_tasks_share_the_budget_evenly_end_to_end(make_store: MakeStore, probe: redis.Redis) -> None:
    """4 tasks of 3 threads, each thread taking slots as StoreGate.take() does (under its task's turn)
    and then sending for ``SEND_S`` (a request takes time: with none, a wave that frees more slots than
    tasks wait goes to the threads that ask first, see docs/adr/0058); the first task starts 0.5 s
    early and takes the first window alone.

    Bounds, none of them on local timing:

    - The budget is exact: at most 10 of Redis's grant times in any 1 s.
    - The late tasks join at 10 - ceil(10 / 2) = 5 served, so least-served-first gives them the next
      15 slots (the waves at about +1 s and +2 s); from then on the slots go round the four tasks,
      keeping the served counts within one of each other, plus one for a ticket asleep through a
      free slot: a spread <= 2 at the end, so the early task's real lead is the credit 5 +- 2.
    - The measured span, the last 2 s, (+2.5 s, +4.5 s], holds the two whole waves after the
      catch-up (hence 4.5 s rather than 3 s: the catch-up must lie before it), and its ends lie
      about half a second from any wave (a wave's grants are made within milliseconds, a second
      after the previous wave's). A task's count in it is the difference of its served counts at
      its ends: the counts differ by at most 1 + 1 + 1.
    """
    stores = [make_store("e2e", BUDGET, WINDOW_S) for _ in range(TASKS)]
    grants: list[tuple[str, int]] = []
    errors: list[StoreAnswer] = []
    t0 = redis_now(probe) + 0.2  # Redis's clock is this host's epoch clock (TIME is gettimeofday)
    end = t0 + RUN_S
    turns = [threading.Lock() for _ in stores]  # the threads of one task share its turn
    workers = [
        threading.Thread(
            target=_drive,
            args=(store, turns[i], t0 if i == 0 else t0 + EARLY_S, end, SEND_S, grants, errors),
        )
        for i, store in enumerate(stores)
        for _ in range(THREADS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert _max_in_any_window([at for _, at in grants], round(WINDOW_S * 1e6)) <= BUDGET

    tasks = [task_of(store) for store in stores]
    early, late = tasks[0], tasks[1:]
    measured_from = round((t0 + RUN_S - MEASURED_S) * 1e6)
    counts = collections.Counter(task for task, at in grants if at > measured_from)
    assert sum(counts.values()) > BUDGET  # contended: more than one window's worth in the span
    per_task = [counts[task] for task in tasks]
    assert max(per_task) - min(per_task) <= 3, per_task
    totals = collections.Counter(task for task, _ in grants)
    counted = served(probe, "e2e")
    assert set(counted) == set(tasks)
    assert max(counted.values()) - min(counted.values()) <= 2, (counted, totals)
    # The early task keeps its head start less the late tasks' credit: ceil(10 / 2) = 5, give or take 2.
    assert all(totals[early] - totals[task] <= math.ceil(BUDGET / 2) + 2 for task in late), totals
