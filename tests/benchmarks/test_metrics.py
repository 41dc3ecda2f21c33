"""The benchmark's own arithmetic and data: rolling-window counts, log summary, targets, rows."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from benchmarks.datagen import CUSTOM_PROPERTIES, FIELD_MAP, hubspot_input, make_row
from benchmarks.metrics import ceiling_events_per_s, max_in_window, summarise_log
from benchmarks.output import targets
from hubspot_events_provider.core.kinds.events.mapper import EventMapper


@pytest.mark.parametrize(
    ("times", "window", "expected"),
    [
        ([], 1.0, 0),
        ([0.0], 1.0, 1),
        ([0.0, 0.5, 0.99, 1.0, 1.5], 1.0, 3),
        ([0.0, 0.1, 0.2, 5.0, 5.1], 1.0, 3),
        ([3.0, 0.0, 2.5, 0.4, 2.9], 1.0, 3),
        ([0.0, 1.0, 2.0, 3.0], 1.0, 1),
        ([0.0, 1.0, 2.0, 3.0], 10.0, 4),
    ],
)
def test_max_in_window(times: list[float], window: float, expected: int) -> None:
    assert max_in_window(times, window) == expected


def test_ceiling_is_limit_times_100_per_window() -> None:
    assert ceiling_events_per_s(19, 1.0) == 1900.0
    assert ceiling_events_per_s(190, 10.0) == 1900.0


def _rec(at: float, status: int, n: int = 100) -> dict[str, Any]:
    path = "/marketing/marketing-events/2026-03/events/upsert"
    return {"at": at, "path": path, "status": status, "inputs": [{}] * n}


def test_summarise_log_counts_429s_and_rates_evenly_spaced_requests_at_the_ceiling() -> None:
    # binary-exact times: 16 requests per second, plus one refused request in between
    records = [_rec(i / 16, 200) for i in range(32)] + [_rec(17 / 32, 429)]
    records.append({"at": 0.1, "path": "/marketing/marketing-events/2026-03/events/x", "status": 200})
    summary = summarise_log(records, 16, 1.0)
    assert summary["requests"] == 33
    assert summary["accepted_requests"] == 32
    assert summary["rate_limited"] == 1
    assert summary["rate_limited_pct"] == pytest.approx(100 / 33, abs=1e-3)
    assert summary["accepted_events"] == 3200
    assert summary["max_requests_in_window"] == 17
    assert summary["send_fraction_of_ceiling"] == pytest.approx(1.0, abs=1e-3)


def _doc(fraction: float, pct: float, cpu: float, mem: tuple[float, float]) -> dict[str, Any]:
    return {
        "throughput": {"fraction_of_ceiling": fraction, "server": {"rate_limited_pct": pct}},
        "shared_budget": {"fraction_of_ceiling": fraction, "server": {"rate_limited_pct": pct}},
        "cpu": [{"source": "jsonl", "events_per_cpu_s": cpu}],
        "memory": [{"n": 10_000, "peak_rss_mb": mem[0]}, {"n": 1_000_000, "peak_rss_mb": mem[1]}],
    }


@pytest.mark.parametrize(
    ("doc", "met"),
    [
        (_doc(0.95, 0.5, 30_000, (50, 120)), [True, True, True, True, True, True]),
        (_doc(0.85, 1.5, 20_000, (50, 200)), [False, False, True, True, False, False]),
        (_doc(0.5, 3.0, 25_000, (50, 150)), [False, False, False, False, True, True]),
    ],
)
def test_targets_verdicts(doc: dict[str, Any], met: list[bool]) -> None:
    assert [t["met"] for t in targets(doc)] == met


def test_issue_17_targets_verdicts() -> None:
    doc = _doc(0.91, 0.5, 30_000, (50, 120))
    doc["throughput"]["n"] = 20_000
    doc["throughput_large"] = {"n": 100_000, "fraction_of_ceiling": 0.89, "server": {"rate_limited_pct": 0.6}}
    doc["back_to_back"] = [{"n": 500, "after_over_ideal": 1.4}, {"n": 2_000, "after_over_ideal": 2.1}]
    shared = {"fraction_of_ceiling": 0.86, "slowest_over_fastest": 1.6, "server": {"rate_limited_pct": 0.9}}
    doc["shared_processes_told"] = [{"processes": 4, **shared}]
    sim = {"tasks": 64, "fraction_of_ceiling": 0.8, "rate_limited_pct": 1.0, "slowest_over_fastest": 1.2}
    doc["simulated"] = {"sharers": [sim]}
    verdicts = {t["target"]: t["met"] for t in targets(doc)}
    assert verdicts["one task, 20,000 events: fraction of ceiling"] is True
    assert verdicts["one task, 100,000 events: fraction of ceiling"] is False
    assert verdicts["one task, 100,000 events: 429 share of requests (%)"] is True
    assert verdicts["back to back, 500 events: wall over ideal"] is True
    assert verdicts["back to back, 2,000 events: wall over ideal"] is False
    assert verdicts["4 processes (told N): aggregate fraction of ceiling"] is True
    assert verdicts["4 processes (told N): 429 share (%)"] is True
    assert verdicts["4 processes (told N): slowest over fastest"] is False
    assert verdicts["simulation, 64 tasks (N from headers): aggregate fraction of ceiling"] is False
    assert verdicts["simulation, 64 tasks (N from headers): 429 share (%)"] is False
    assert verdicts["simulation, 64 tasks (N from headers): slowest over fastest"] is True


@pytest.mark.parametrize("i", [0, 1, 49, 50, 12345])
def test_mapper_turns_generated_rows_into_the_baselines_payload(i: int) -> None:
    mapper = EventMapper(field_map=FIELD_MAP, custom_properties=list(CUSTOM_PROPERTIES), timezone="UTC")
    mapped = mapper.map_row(make_row(i))
    assert mapped.errors == []
    assert mapped.payload == hubspot_input(make_row(i))


def test_generated_events_are_accepted_by_the_sandbox(hubspot_sandbox: Any) -> None:
    inputs = [hubspot_input(make_row(i)) for i in range(100)]
    resp = requests.post(
        f"{hubspot_sandbox.url}/marketing/marketing-events/2026-03/events/upsert",
        json={"inputs": inputs},
        headers={"Authorization": f"Bearer {hubspot_sandbox.token}"},
        timeout=10,
    )
    assert resp.status_code == 200
    assert resp.json().get("numErrors", 0) == 0
    assert len(hubspot_sandbox.events()) == 100
