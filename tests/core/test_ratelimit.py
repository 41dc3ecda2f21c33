"""RollingWindowLimiter with an injected fake clock and sleep (no real waiting)."""

from __future__ import annotations

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
    # the first window's worth goes out without waiting, then the limiter paces
    assert sent[: limiter.limit] == [1000.0] * limiter.limit
    assert sent[limiter.limit] > 1000.0 + window


def test_throughput_stays_near_the_budget() -> None:
    limiter, clock = make(20, 1.0)
    for _ in range(19 * 10):
        limiter.acquire()
    elapsed = clock.now - 1000.0
    assert 19 * 10 / (elapsed + 1.0) >= 0.9 * 20 * 0.95


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


def test_budget_spent_by_others_shrinks_the_share_and_paces() -> None:
    limiter, clock = make(20, 1.0)
    for _ in range(5):
        limiter.acquire()
    limiter.observe(headers(20, 0))  # 15 of the 20 were spent by someone else
    assert limiter.limit == 4  # 5 * 19 / 20
    before = clock.now
    limiter.acquire()
    assert clock.now - before == pytest.approx(1.015)  # 5 sent, share 4: wait for the window to roll


def test_shared_budget_spreads_requests_over_the_window() -> None:
    limiter, clock = make(20, 1.0)
    for _ in range(5):
        limiter.acquire()
    limiter.observe(headers(20, 10))  # others spent 5, room left: keep the share, but pace
    assert limiter.limit == 19
    before = clock.now
    limiter.acquire()
    assert clock.now - before == pytest.approx(1.0 / 19)


def test_probe_sends_one_request_until_headers_arrive() -> None:
    limiter, clock = make(20, 1.0, probe=True)
    limiter.acquire()
    limiter.observe(headers(20, 19))
    for _ in range(18):
        limiter.acquire()
    assert clock.now == 1000.0
    assert limiter.limit == 19


def test_probe_gives_up_after_a_window_without_headers() -> None:
    limiter, clock = make(20, 1.0, probe=True)
    sent = []
    for _ in range(20):
        limiter.acquire()
        sent.append(clock.now)
    assert sent[0] == 1000.0
    assert sent[1] == pytest.approx(1001.0)
    assert sent[1:] == [sent[1]] * 18 + [sent[-1]]


def test_own_usage_does_not_shrink_the_share() -> None:
    limiter, _ = make(20, 1.0)
    for _ in range(19):
        limiter.acquire()
    limiter.observe(headers(20, 1))
    assert limiter.limit == 19


def test_share_grows_back_with_room_to_spare() -> None:
    limiter, clock = make(20, 1.0)
    limiter.penalize()
    assert limiter.limit == 9
    clock.now += 2.0
    limiter.observe(headers(20, 19))  # nobody else is spending the budget
    assert limiter.limit == 19


def test_server_max_lower_than_configured_caps_the_share() -> None:
    limiter, _ = make(100, 10.0)
    limiter.observe(headers(50, 49, interval_ms=10000))
    assert limiter.limit == 47


@pytest.mark.parametrize(("budget", "window"), [(0, 1.0), (10, 0.0)])
def test_invalid_arguments(budget: int, window: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        RollingWindowLimiter(budget, window)
