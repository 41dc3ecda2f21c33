"""The scale benchmark's simulation figures and report (no timing: the simulation's clock is fake)."""

from __future__ import annotations

import pathlib
import threading
import time
from typing import Any

from benchmarks.scale import markdown_scale, simulated
from benchmarks.simulate import SimTask, simulate


def test_every_simulated_request_is_accepted_once_and_counted() -> None:
    doc = simulated([2, 4], 200, [1])
    for row in doc["sharers"]:
        assert row["requests"] == 200  # 100 per task for 2, 50 for 4: all accepted, none lost
        assert 0.5 < row["fraction_of_ceiling"] <= 1.0
        assert row["slowest_over_fastest"] >= 1.0
    late = doc["late_and_early"]
    accepted = sum(len(t["accepted"]) for t in late["timeline"])
    assert accepted == 4 * 150 + 30 + 2 * 80
    assert all(t["finished"] is not None for t in late["timeline"])
    told = doc["late_and_early_known"]["timeline"]  # the plot's middle panel
    assert sum(len(t["accepted"]) for t in told) == accepted
    assert [t["start"] for t in told] == [0.0] * 5 + [40.0] * 2
    lines = markdown_scale({"simulated": doc})
    assert any(line.startswith("| 4 | 200 |") for line in lines)


def test_the_simulated_window_counts_refused_requests_like_the_sandbox() -> None:
    # 100 requests of a budget of 10 from one task without a probe still never exceed the window
    result = simulate([SimTask(100)], maximum=10, window_s=1.0, seed=3)
    assert len(result.accepted) == 100
    assert result.max_per_window <= 10 + len(result.refused)


def test_the_simulated_store_admits_exactly_the_budget_per_window() -> None:
    from benchmarks.scale import simulated_store, store_slack

    # one exact admission window: no 429, never more than the budget, every request once
    result = simulate([SimTask(60) for _ in range(8)], seed=2, store_slack=store_slack(10.0))
    assert (len(result.accepted), len(result.refused), result.max_per_window) == (480, 0, 100)
    # the grants count for 10.2 s: the fifth window starts after 4 x 10.2 s
    assert sorted(result.accepted)[400] >= 4 * 10.2
    (row,) = simulated_store([4], 400, [1])
    assert (row["requests"], row["rate_limited_pct"], row["max_in_window"]) == (400, 0.0, 100)
    assert row["fraction_full_windows"] < row["fraction_of_ceiling"]


def test_processes_wait_for_one_common_start(tmp_path: pathlib.Path) -> None:
    from benchmarks.ours import await_start
    from benchmarks.scale import _start_together

    started: list[float] = []
    workers = [
        threading.Thread(target=lambda: (await_start(tmp_path), started.append(time.monotonic())))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.2)
    assert started == []  # ready, waiting for the signal
    _start_together(tmp_path, 1)  # the threads share a pid: one ready file stands for all three
    go = time.monotonic()
    for worker in workers:
        worker.join(timeout=5)
    assert len(started) == 3
    assert all(0 <= at - go < 0.1 for at in started)


def test_store_targets_hold_the_store_rows_to_their_own_goals() -> None:
    from benchmarks.output import store_targets

    def row(frac: float, pct: float, spread: float, stored: int) -> dict[str, Any]:
        return {
            "processes": 4,
            "n": 100,
            "stored_events": stored,
            "fraction_of_ceiling": frac,
            "slowest_over_fastest": spread,
            "server": {"rate_limited_pct": pct},
        }

    doc = {
        "store": {
            "with_store": [row(0.95, 0.5, 1.1, 100)],
            "with_store_2s_window": [row(0.94, 0.6, 1.2, 99)],
            "without_store": [row(0.7, 1.1, 2.0, 100), {**row(0.7, 5.0, 2.0, 100), "processes": 16}],
            "redis_killed": {**row(0.7, 1.0, 1.5, 100), "store_warnings": [1, 1, 2, 0]},
            "simulated": [{"tasks": 64, "fraction_full_windows": 0.949}],
        }
    }
    verdicts = {t["target"]: t["met"] for t in store_targets(doc)}
    assert verdicts == {
        "4 processes (store): aggregate fraction of ceiling": True,
        "4 processes (store): 429 share (%)": True,
        "4 processes (store): slowest over fastest": True,
        "4 processes (store): events stored once": True,
        "4 processes (no store, not told): 429 share (%)": False,
        "Redis killed mid-run: events stored once": True,
        "Redis killed mid-run: one warning per task": False,
        "simulation, 64 tasks (store): fraction of ceiling": False,
    }
    assert store_targets({}) == []
    # The 2 s-window rows are reported, not targeted; the not-told target stops at N = 8.
    assert not any("2 s window" in t or "16 processes" in t for t in verdicts)
