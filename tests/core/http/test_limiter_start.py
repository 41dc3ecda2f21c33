"""The limiter's start: the probe, a short run's first burst (``expect``), the confirming request.

Pure tables of :func:`control_law` and of the limiter on a fake clock, the deterministic simulation
(the real limiter against the sandbox's window semantics), and the client and the pipeline against
the sandbox over HTTP.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

import benchmarks.simulate as sim
from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.core.http.limiter import RollingWindowLimiter
from hubspot_events_provider.core.http.limiter_law import (
    LimiterState,
    Observation,
    control_law,
)
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import rows_from_events
from hubspot_events_provider.sandbox.server import SandboxServer
from tests.support import event


class FakeClock:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def headers(maximum: int, remaining: int, interval_ms: int = 10_000) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Max": str(maximum),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": str(interval_ms),
    }


def limiter(budget: int = 100, sharers: int | None = None) -> tuple[RollingWindowLimiter, FakeClock]:
    clock = FakeClock()
    lim = RollingWindowLimiter(budget, 10.0, clock=clock, sleep=clock.sleep, rng=lambda: 0.0, sharers=sharers)
    return lim, clock


def leave_now(lim: RollingWindowLimiter) -> int:
    """How many requests the limiter lets go without any time passing."""
    sent = 0
    while lim.try_acquire() == 0.0:
        sent += 1
    return sent


# -- before the first headers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "announced", "sharers", "before_headers"),
    [
        (100, None, None, 1),  # unknown run: the probe, 1/64 of the budget (at least one)
        (100, 5, None, 5),  # a small run goes at once (500 events)
        (100, 6, None, 6),
        (100, 20, None, 6),  # a short run (2,000 events): a first burst of 1/16 of the budget
        (100, 25, None, 6),  # a quarter of the budget is still short
        (100, 26, None, 1),  # longer: the probe
        (100, 0, None, 1),
        (190, 40, None, 11),  # Pro budget: 190 / 16
        (190, 48, None, 2),  # past 190 / 4: the probe, 190 / 64
        (19, 4, None, 1),  # the compressed window: 19 / 16 rounds down to the probe
        (100, 20, 4, 1),  # told sharers: the probe (paced at the equal share from the first answer)
        (100, 20, 16, 1),
        (100, 20, 64, 1),
    ],
)
def test_requests_that_leave_before_the_first_headers(
    budget: int, announced: int | None, sharers: int | None, before_headers: int
) -> None:
    lim, _ = limiter(budget, sharers)
    if announced is not None:
        lim.expect(announced)
    assert leave_now(lim) == before_headers


def test_an_announcement_after_the_probe_left_counts_it() -> None:
    # Overlapped reading: the first batch leaves before the run's size is known.
    lim, _ = limiter()
    assert leave_now(lim) == 1
    lim.expect(5)
    assert leave_now(lim) == 4
    lim.expect(3)  # fewer than already sent: nothing more before the headers
    assert leave_now(lim) == 0


def test_without_headers_a_short_run_waits_at_most_a_window_as_before() -> None:
    lim, clock = limiter()
    lim.expect(5)
    assert leave_now(lim) == 5
    lim.acquire()  # a retry: waits for the probe window to pass (no headers came)
    assert clock.now == pytest.approx(1010.0)


def test_once_headers_are_seen_the_announcement_changes_nothing() -> None:
    lim, _ = limiter()
    assert leave_now(lim) == 1
    lim.observe(headers(100, 99))
    assert lim.limit == 26  # a quarter of the budget, plus one for the probe's answer
    lim.expect(3)
    assert lim.limit == 26
    assert leave_now(lim) == 25


@pytest.mark.parametrize("bad", [-1, True, 2.5, "3"])
def test_expect_takes_a_request_count(bad: object) -> None:
    lim, _ = limiter()
    with pytest.raises(ValueError, match="total must be an integer >= 0"):
        lim.expect(bad)  # type: ignore[arg-type]


# -- the confirmation after a task that just ended (control law table) ------------------------------


def burst_after_another(grown: int) -> list[tuple[Observation, float]]:
    """A first burst of 6 requests after a task whose 20 requests are still in the window, then
    the confirming request; ``grown``: requests others sent meanwhile. Pairs (answer, limit after).
    """
    out = []
    for k in range(1, 7):  # the k-th request of the burst arrives with 20 + k in the window
        out.append((Observation(0.1 + k / 1000, k / 1000, 100, 80 - k, 10.0, 6, k), 7.0))
    confirm = Observation(0.21, 0.11, 100, 73 - grown, 10.0, 7, 7)
    out.append((confirm, 25.0))
    return out


def test_quiet_others_a_first_burst_then_one_confirming_request_then_the_start_level() -> None:
    state = LimiterState(limit=25.0, slack=0.2)
    limits = []
    for obs, _ in burst_after_another(grown=0):
        state = control_law(state, obs, cap=100.0, window_s=10.0)
        limits.append(state.limit)
        assert not state.shared(obs.now)
    # the first answer: our 6 and one more; the burst's later answers add none; the confirming
    # answer shows the count of others did not grow: the start level (what the window has left, 80,
    # is the ceiling)
    assert limits == [expected for _, expected in burst_after_another(grown=0)]


def test_others_that_grow_during_the_confirmation_are_shared_with() -> None:
    state = LimiterState(limit=25.0, slack=0.2)
    for obs, _ in burst_after_another(grown=5):
        state = control_law(state, obs, cap=100.0, window_s=10.0)
    assert state.shared(0.21)
    # a share of the aim (the shared law's; about 90 / 33), not the start level of 25
    assert 1.0 <= state.limit < 5.0


def test_a_lone_probe_is_followed_by_exactly_one_confirming_request() -> None:
    # The probe (no announcement): one request, then one more until the confirming answer.
    state = LimiterState(limit=25.0, slack=0.2)
    state = control_law(state, Observation(0.1, 0.0, 100, 79, 10.0, 1, 1), cap=100.0, window_s=10.0)
    assert state.limit == 2.0
    state = control_law(state, Observation(0.2, 0.1, 100, 78, 10.0, 2, 2), cap=100.0, window_s=10.0)
    assert state.limit == 25.0


# -- the simulation: the pipeline announces every task's size ----------------------------------------


@pytest.fixture
def announced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make every simulated task's limiter announce its size, as the pipeline does."""
    sizes: list[int] = []

    class Announcing(RollingWindowLimiter):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            if sizes:
                self.expect(sizes.pop(0))

    monkeypatch.setattr(sim, "RollingWindowLimiter", Announcing)
    return sizes


def run_sim(sizes: list[int], each: int, n: int, announce: bool, **kwargs: object) -> sim.SimResult:
    sizes[:] = [each] * n if announce else []
    return sim.simulate([sim.SimTask(each) for _ in range(n)], **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("requests", "alone_s", "after_s"), [(5, 0.106, 0.106), (20, 0.32, 0.42)])
def test_a_short_task_alone_and_right_after_another(
    announced: list[int], requests: int, alone_s: float, after_s: float
) -> None:
    # 100 per 10 s, 100 ms latency, 8 in flight: the ideal is 0.1 s (5 requests), 0.3 s (20).
    alone = run_sim(announced, requests, 1, True, latency=(0.1, 0.1), seed=1)
    after = run_sim(announced, requests, 1, True, latency=(0.1, 0.1), seed=1, stale=20)
    assert alone.refused == after.refused == []
    assert alone.tasks[0].finished is not None
    assert after.tasks[0].finished is not None
    # 5: one round trip either way (it was 0.2 s alone, 0.3 s after); 20: three round trips alone
    # (it was 0.41 s), four after (0.51 s): the burst, the confirming request, two rounds of 8
    assert alone.tasks[0].finished <= alone_s + 0.01
    assert after.tasks[0].finished <= after_s + 0.01


@pytest.mark.parametrize("n", [16, 64])
def test_the_sharing_benchmark_is_unchanged_by_the_announcement(announced: list[int], n: int) -> None:
    # 2,000 requests over N tasks: every task is longer than a quarter of the budget, so it probes.
    each = 2000 // n
    plain = run_sim(announced, each, n, False, seed=1)
    told = run_sim(announced, each, n, True, seed=1)
    assert len(told.refused) == len(plain.refused)
    assert told.accepted == plain.accepted


@pytest.mark.parametrize(("n", "each"), [(16, 20), (32, 20), (64, 5)])
def test_told_the_number_of_sharers_short_tasks_started_together_get_no_more_429s(
    announced: list[int], n: int, each: int
) -> None:
    for seed in (1, 2, 3):
        plain = run_sim(announced, each, n, False, seed=seed, sharers=n)
        told = run_sim(announced, each, n, True, seed=seed, sharers=n)
        assert len(told.refused) <= len(plain.refused)


def test_sixteen_small_tasks_started_together_finish_in_one_round_trip(announced: list[int]) -> None:
    # 16 x 6 requests fit in one window of 100: no probe, no pacing (they took 18 s before)
    result = run_sim(announced, 6, 16, True, seed=1)
    assert result.refused == []
    assert max(t.finished or 99.0 for t in result.tasks) < 0.42


# -- over HTTP ------------------------------------------------------------------------------------


def real_client(sandbox: SandboxServer) -> HubSpotClient:
    config = ClientConfig(
        base_url=sandbox.url, max_requests_per_10s=100, rate_window_s=10.0, read_timeout=10.0
    )
    return HubSpotClient(config, StaticTokenAuth(sandbox.token))


@pytest.mark.parametrize("announce", [True, False])
def test_a_short_run_announced_to_the_client_does_not_wait_for_the_first_answer(
    hubspot_sandbox_factory: Callable[..., SandboxServer], announce: bool
) -> None:
    sandbox = hubspot_sandbox_factory(rate_limit=100, rate_window_s=10.0, latency_s=(0.3, 0.3))
    with real_client(sandbox) as client:
        if announce:
            client.expect_requests(5)
        with ThreadPoolExecutor(5) as pool:
            list(pool.map(lambda _: client.list_events(limit=1), range(5)))
    arrivals = sorted(r.at for r in sandbox.requests())
    assert [r.status for r in sandbox.requests()] == [200] * 5
    if announce:
        assert arrivals[-1] - arrivals[0] < 0.25  # all five before the first answer (0.3 s)
    else:
        assert arrivals[1] - arrivals[0] >= 0.3  # the probe's answer came first


def test_the_pipeline_announces_its_batches(hubspot_sandbox_factory: Callable[..., SandboxServer]) -> None:
    sandbox = hubspot_sandbox_factory(rate_limit=100, rate_window_s=10.0, latency_s=(0.3, 0.3))
    report = UpsertReport(dry_run=False, rejected=JsonLinesWriter(io.BytesIO()), results=None)
    with real_client(sandbox) as client:
        run_upsert(
            rows_from_events([event(i) for i in range(40)], source="events"),
            EventMapper(),
            client,
            report,
            options=UpsertOptions(batch_size=10, max_in_flight=8),
        )
    assert report.summary()["upserted"] == 40
    arrivals = sorted(r.at for r in sandbox.requests())
    assert len(arrivals) == 4
    assert arrivals[-1] - arrivals[0] < 0.25  # 4 batches of a 100 budget: no probe round trip


# -- real threads: a waiting thread wakes at the answer, not at its next periodic check -------------


@pytest.mark.parametrize("release", ["answer", "announcement"])
def test_a_thread_waiting_for_the_probe_wakes_when_room_appears(release: str) -> None:
    # A 100 s window: a thread held by the probe re-checks every 0.5 s on its own.
    lim = RollingWindowLimiter(100, 100.0)
    lim.acquire()  # the probe
    started = threading.Event()
    released: list[float] = []

    def second() -> None:
        started.set()
        lim.acquire()
        released.append(time.monotonic())

    thread = threading.Thread(target=second)
    thread.start()
    started.wait()
    time.sleep(0.05)  # the thread is waiting now
    assert released == []
    at = time.monotonic()
    if release == "answer":
        lim.observe(headers(100, 99, 100_000))
    else:
        lim.expect(2)  # a run of two: no probe needed
    thread.join(5.0)
    assert len(released) == 1
    assert released[0] - at < 0.4  # not the 0.5 s periodic check
