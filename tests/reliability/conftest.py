"""Session-wide figures of the reliability suite: every run records its numbers, the end of the
session prints a table (visible in the terminal summary) and writes ``reliability-figures.json``
under pytest's base temp dir, so the figures can be quoted (runs, events, faults by kind, rows
lost, duplicates, leaks)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.reliability.harness import summary_line

_FIGURES: list[dict[str, Any]] = []

Recorder = Callable[..., None]


@pytest.fixture
def record_run(request: pytest.FixtureRequest) -> Recorder:
    """``record_run(figures, outcome=...)``: add one run's figures to the session table."""

    def record(figures: dict[str, Any], *, outcome: str, name: str | None = None) -> None:
        _FIGURES.append({"name": name or request.node.name, "outcome": outcome, **figures})

    return record


def totals(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the per-run figures."""
    faults: Counter[str] = Counter()
    for f in figures:
        faults.update(f.get("faults", {}))
    return {
        "runs": len(figures),
        "events": sum(f["events"] for f in figures),
        "faults": dict(sorted(faults.items())),
        "faults_total": sum(faults.values()),
        "lost": sum(f["lost"] for f in figures),
        "duplicates": sum(f["duplicates"] for f in figures),
        "leaks": sum(f["leaks"] for f in figures),
    }


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not _FIGURES:
        return
    total = totals(_FIGURES)
    tr = terminalreporter
    tr.section("reliability figures")
    for f in _FIGURES:
        tr.write_line(summary_line(f))
    tr.write_line(
        f"TOTAL runs={total['runs']} events={total['events']} faults={total['faults_total']} "
        f"{total['faults']} lost={total['lost']} duplicates={total['duplicates']} leaks={total['leaks']}"
    )
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    out = base / "reliability-figures.json"
    out.write_text(json.dumps({"totals": total, "runs": _FIGURES}, indent=2), encoding="utf-8")
    tr.write_line(f"figures written to {out}")
