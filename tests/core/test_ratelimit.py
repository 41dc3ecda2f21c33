"""RollingWindowLimiter with an injected fake clock and sleep (no real waiting)."""

from __future__ import annotations

import itertools
import threading

import pytest

from hubspot_events_provider.core.ratelimit import RateLimitStatus, RollingWindowLimiter


class FakeClock:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def make(
    budget: int = 20, window: float = 1.0, probe: bool = False
) -> tuple[RollingWindowLimiter, FakeClock]:
    clock = FakeClock()
    limiter = RollingWindowLimiter(
        budget, window, clock=clock, sleep=clock.sleep, rng=lambda: 0.0, probe=probe
    )
    return limiter, clock


def max_in_any_window(times: list[float], window: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def headers(maximum: int, remaining: int, interval_ms: int = 1000) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Max": str(maximum),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": str(interval_ms),
    }


@pytest.mark.parametrize(("budget", "limit"), [(1, 1), (10, 9), (20, 19), (100, 95), (190, 180), (250, 237)])
def test_uses_a_safety_share_of_the_budget(budget: int, limit: int) -> None:
    limiter, _ = make(budget)
    assert limiter.limit == limit


@pytest.mark.parametrize(("budget", "window"), [(20, 1.0), (100, 10.0), (5, 0.5)])
def test_every_window_holds_at_most_the_budget(budget: int, window: float) -> None:
    limiter, clock = make(budget, window)
    sent = []
    for _ in range(budget * 5):
        limiter.acquire()
        sent.append(clock.now)
    assert max_in_any_window(sent, window) <= limiter.limit < budget + 1
    # requests are spread evenly over the window instead of going out in one burst
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(sent)}
    assert min(gaps) == pytest.approx(window / limiter.limit)


def test_throughput_stays_near_the_budget() -> None:
    limiter, clock = make(20, 1.0)
    for _ in range(19 * 10 + 1):
        limiter.acquire()
    assert 19 * 10 / (clock.now - 1000.0) >= 0.9 * 20


def test_threads_share_one_budget() -> None:
    limiter, clock = make(10, 1.0)
    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            limiter.acquire()
            with lock:
                sent.append(clock.now)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == 40
    assert max_in_any_window(sorted(sent), 1.0) <= 9


def test_penalize_pauses_everyone_for_the_window_and_halves_the_share() -> None:
    limiter, clock = make(20, 1.0)
    limiter.acquire()
    limiter.penalize()
    assert limiter.limit == 9
    limiter.acquire()
    assert clock.now >= 1001.0


def test_penalize_honours_a_longer_retry_after() -> None:
    limiter, clock = make(20, 1.0)
    limiter.penalize(retry_after=5.0)
    limiter.acquire()
    assert clock.now == pytest.approx(1005.0)


def test_observe_parses_headers_case_insensitively() -> None:
    limiter, clock = make(20, 1.0)
    status = limiter.observe({k.lower(): v for k, v in headers(20, 12).items()})
    assert status == RateLimitStatus(max=20, remaining=12, interval_ms=1000, observed_at=clock.now)
    assert limiter.status == status


@pytest.mark.parametrize(
    "hdrs",
    [
        {},
        {"X-HubSpot-RateLimit-Max": "20"},
        {"X-HubSpot-RateLimit-Max": "x", "X-HubSpot-RateLimit-Remaining": "1"},
    ],
)
def test_observe_ignores_missing_or_bad_headers(hdrs: dict[str, str]) -> None:
    limiter, _ = make()
    assert limiter.observe(hdrs) is None
    assert limiter.status is None


def send(limiter: RollingWindowLimiter, clock: FakeClock, n: int, remaining: int) -> None:
    """``n`` requests, each answered (after 0.1 s) with ``remaining`` of a budget of 20."""
    for _ in range(n):
        limiter.acquire()
        clock.now += 0.1
        limiter.observe(headers(20, remaining))


def test_budget_spent_by_others_shrinks_the_share() -> None:
    limiter, clock = make(20, 1.0)
    send(limiter, clock, 4, 0)  # others spend 16 of the 20 while we send 4
    assert limiter.shared
    assert limiter.limit < 4  # 4 * 18 / 20, less for the share we hold
    before = clock.now
    limiter.acquire()
    assert clock.now - before >= 1.0 / 4  # paced at our (smaller) share


@pytest.mark.parametrize("ours", [2, 5, 9])
def test_the_sum_of_shares_drops_below_the_aim(ours: int) -> None:
    # Every process that sees the app above 90 % of Max cuts its share to at most its part of it.
    limiter, _clock = make(20, 1.0)
    for _ in range(ours):
        limiter.acquire()
    limiter.observe(headers(20, 20 - ours - 11))  # others: 11
    limiter.observe(headers(20, 20 - ours - 11))
    assert limiter.shared
    used = ours + 11
    assert limiter.limit <= ours * 18 / used


def test_a_larger_share_is_cut_by_a_larger_fraction() -> None:
    cuts = []
    for ours in (3, 12):
        limiter, _ = make(20, 1.0)
        for _ in range(ours):
            limiter.acquire()
        for _ in range(2):
            limiter.observe(headers(20, 0))
        cuts.append(limiter._limit / ours)
    assert cuts[1] < cuts[0] < 18 / 20


def test_one_cut_per_window_while_it_drains() -> None:
    limiter, _clock = make(20, 1.0)
    for _ in range(10):
        limiter.acquire()
    limiter.observe(headers(20, 0))
    limiter.observe(headers(20, 0))
    first = limiter.limit
    limiter.observe(headers(20, 0))
    assert limiter.limit == first


def test_shares_grow_back_by_the_same_step_with_room_to_spare() -> None:
    grown = []
    for ours in (2, 8):
        limiter, clock = make(20, 1.0)
        for _ in range(ours):
            limiter.acquire()
        limiter.observe(headers(20, 8))  # the app used 12, below the aim of 18
        before = limiter._limit
        clock.now += 0.5
        limiter.observe(headers(20, 8))
        grown.append(limiter._limit - before)
    # the same additive step for a small and a large share: shares converge
    assert grown[0] == pytest.approx(grown[1])
    assert grown[0] > 0


def test_shares_never_grow_past_the_aim_of_the_whole_app() -> None:
    limiter, clock = make(20, 1.0)
    for _ in range(4):
        limiter.acquire()
    limiter.observe(headers(20, 0))
    low = limiter._limit
    for _ in range(50):
        clock.now += 0.5
        limiter.observe(headers(20, 2))  # the app at exactly the aim (18 of 20)
    assert limiter._limit == pytest.approx(low)


def test_share_is_the_whole_budget_again_when_others_stop() -> None:
    limiter, clock = make(20, 1.0)
    send(limiter, clock, 4, 0)
    assert limiter.limit < 19
    for _ in range(40):
        clock.now += 0.1
        limiter.acquire()
        limiter.observe(headers(20, 19))  # only our request in the window
    assert not limiter.shared
    assert limiter.limit == 19


def test_alone_with_arrival_jitter_keeps_the_whole_budget() -> None:
    limiter, _clock = make(20, 1.0)
    for i in range(60):
        limiter.acquire()
        used = min(19, i + 1) + (1 if i % 7 == 0 else 0) - (1 if i % 5 == 0 else 0)
        limiter.observe(headers(20, 20 - used))
    assert not limiter.shared
    assert limiter.limit == 19


def test_an_answer_compares_with_the_sends_before_its_request() -> None:
    limiter, _ = make(20, 1.0)
    for _ in range(5):
        limiter.acquire()

    def other_thread() -> None:
        for _ in range(3):
            limiter.acquire()  # sent after ours, still in flight

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    # This thread's answer belongs to its own 5th request: the server counted 7 by then, so
    # 2 were spent by someone else (the 3 later sends of the other thread do not hide them).
    limiter.observe(headers(20, 13))
    assert limiter.shared


def test_late_answers_do_not_change_the_share() -> None:
    limiter, clock = make(20, 1.0)
    limiter.acquire()
    clock.now += 5.0
    limiter.observe(headers(20, 0))
    assert limiter.limit == 19
    assert not limiter.shared


def test_probe_sends_one_request_until_headers_arrive() -> None:
    limiter, clock = make(20, 1.0, probe=True)
    limiter.acquire()
    limiter.observe(headers(20, 19))
    for _ in range(18):
        limiter.acquire()
    assert clock.now == pytest.approx(1000.0 + 18 / 19)
    assert limiter.limit == 19


def test_probe_gives_up_after_a_window_without_headers() -> None:
    limiter, clock = make(20, 1.0, probe=True)
    sent = []
    for _ in range(3):
        limiter.acquire()
        sent.append(clock.now)
    assert sent[0] == 1000.0
    assert sent[1] == pytest.approx(1001.0)
    assert sent[2] == pytest.approx(1001.0 + 1 / 19)


def test_share_grows_back_after_a_429_when_alone() -> None:
    limiter, clock = make(20, 1.0)
    limiter.penalize()
    assert limiter.limit == 9
    clock.now += 2.0
    limiter.acquire()
    limiter.observe(headers(20, 19))  # nobody else is spending the budget
    assert limiter.limit == 19


def test_penalize_pause_is_jittered() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(20, 1.0, clock=clock, sleep=clock.sleep, rng=lambda: 0.8, probe=False)
    limiter.penalize()
    limiter.acquire()
    assert clock.now == pytest.approx(1001.4)


def test_server_max_lower_than_configured_caps_the_share() -> None:
    limiter, _ = make(100, 10.0)
    limiter.observe(headers(50, 49, interval_ms=10000))
    assert limiter.limit == 47


@pytest.mark.parametrize(("budget", "window"), [(0, 1.0), (10, 0.0)])
def test_invalid_arguments(budget: int, window: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        RollingWindowLimiter(budget, window)
