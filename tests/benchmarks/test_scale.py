"""The scale benchmark's simulation figures and report (no timing: the simulation's clock is fake)."""

from __future__ import annotations

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
