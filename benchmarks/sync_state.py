"""Cost of a daily sync with a sync state (issue 14): a no-change run, and a run with 1 % changed.

``python -m benchmarks.sync_state [--rows 100000]`` (also a case of ``make bench``) runs each phase in
a fresh process (so each peak RSS is that phase's alone) and writes
``benchmarks/results/sync_state.json``:

- ``seed``: the state after yesterday's run: every row of the benchmark table (``datagen``) mapped
  and its digest recorded as confirmed, then committed. Seeded directly, without HTTP, to keep the
  benchmark short: what today's run reads from the state is the same either way.
- ``nochange``: today's run over the same table with ``run_sync`` (``on_missing="delete"``, so
  the missing-events check runs too) against an in-process sandbox: the seconds and requests a
  no-change daily run costs, versus the requests a run without a state would send.
- ``changed``: the same with 1 % of the rows renamed: exactly those are sent.
- ``dry_run_without_state``: the same table as a dry run without a state, for comparison: what
  reading, mapping, validating and spooling cost in any run (the state's overhead is the difference).

RSS is ``ru_maxrss`` of the phase's process; ``growth_mb`` is above the RSS after the imports.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.datagen import make_row
from benchmarks.ours import make_mapper
from hubspot_events_provider.core.engine.report import UpsertReport
from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
from hubspot_events_provider.core.rows.sources import rows_from_file
from hubspot_events_provider.core.sync.digest import payload_digest
from hubspot_events_provider.core.sync.run import SyncOptions, run_sync
from hubspot_events_provider.core.sync.state import SyncState
from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer

RESULTS = Path(__file__).resolve().parent / "results" / "sync_state.json"
_CHANGED_EVERY = 100  # 1 % of the rows change in the "changed" phase


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def write_table(path: Path, n: int, *, changed: bool) -> Path:
    """The benchmark table as JSON Lines; with ``changed``, every 100th row has a new name."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            row = make_row(i)
            if changed and i % _CHANGED_EVERY == 0:
                row["name"] = f"{row['name']} (renamed)"
            out.write(json.dumps(row) + "\n")
    return path


def phase_seed(table: Path, state_path: Path) -> dict[str, Any]:
    """Record every row's digest as confirmed (yesterday's run), then commit."""
    mapper = make_mapper()
    started = time.perf_counter()
    valid = 0
    with SyncState(state_path) as state:
        for row in rows_from_file(lambda: table.open("rb"), name=str(table)):
            mapped = mapper.map_row(row.data)
            if mapped.payload is not None and mapped.key is not None:
                state.record_confirmed(mapped.key, payload_digest(mapped.payload), None)
                valid += 1
        state.commit()
    return {"valid_rows": valid, "seconds": round(time.perf_counter() - started, 2)}


def phase_run(table: Path, state_path: Path) -> dict[str, Any]:
    """Today's run with the state, against an in-process sandbox: seconds, requests, counts."""
    with SandboxServer(SandboxConfig()) as sb:
        config = ClientConfig(base_url=sb.url, max_requests_per_10s=10_000)
        with HubSpotClient(config, StaticTokenAuth(sb.token)) as client:
            report = UpsertReport()
            started = time.perf_counter()
            sync = run_sync(
                rows_from_file(lambda: table.open("rb"), name=str(table)),
                make_mapper(),
                client,
                report,
                options=UpsertOptions(batch_size=100, max_in_flight=8, source=str(table)),
                state=SyncState(state_path),
                sync=SyncOptions(on_missing="delete"),
                stats=client.stats.snapshot,
            )
            seconds = time.perf_counter() - started
        sandbox_requests = sb.stats()["requests"]
    return {
        "total": report.total,
        "upserted": report.upserted,
        "unchanged": report.unchanged,
        "failed": report.failed,
        "seconds": round(seconds, 2),
        "requests": report.requests,
        "sandbox_requests": sandbox_requests,
        "requests_without_state": math.ceil((report.total - report.rejected) / 100),
        "missing": sync["missing"],
    }


def phase_dry_run(table: Path) -> dict[str, Any]:
    """The same table as a dry run without a state: read, map, validate, spool (what every run
    pays before sending), for comparison."""
    report = UpsertReport(dry_run=True)
    started = time.perf_counter()
    run_upsert(
        rows_from_file(lambda: table.open("rb"), name=str(table)),
        make_mapper(),
        None,
        report,
        options=UpsertOptions(dry_run=True, source=str(table)),
    )
    return {
        "total": report.total,
        "would_upsert": report.would_upsert,
        "seconds": round(time.perf_counter() - started, 2),
    }


def run_phase(phase: str, table: Path, state_path: Path) -> dict[str, Any]:
    """Run one phase in this process; return its figures with the RSS."""
    baseline = _rss_mb()
    if phase == "seed":
        figures = phase_seed(table, state_path)
    elif phase == "dry_run_without_state":
        figures = phase_dry_run(table)
    else:
        figures = phase_run(table, state_path)
    peak = _rss_mb()
    return {
        "phase": phase,
        **figures,
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(peak, 1),
        "growth_mb": round(peak - baseline, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),  # a shared 2-core VM: times are noisy
    }


def run_cases(n: int) -> list[dict[str, Any]]:
    """Seed, then a no-change run, then a 1 %-changed run, each in a fresh process.

    :param n: rows in the table.
    """
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        same = write_table(Path(tmp) / "today.jsonl", n, changed=False)
        changed = write_table(Path(tmp) / "changed.jsonl", n, changed=True)
        state = Path(tmp) / "events.state"
        phases = (("dry_run_without_state", same), ("seed", same), ("nochange", same), ("changed", changed))
        for phase, table in phases:
            cmd = [sys.executable, "-m", "benchmarks.sync_state", "--phase", phase]
            cmd += ["--table", str(table), "--state", str(state)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            row = {"rows": n, **json.loads(out.stdout.strip().splitlines()[-1])}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run the phases (or one, with ``--phase``); print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--phase", choices=["dry_run_without_state", "seed", "nochange", "changed"])
    parser.add_argument("--table")
    parser.add_argument("--state")
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(run_phase(args.phase, Path(args.table), Path(args.state))))
        return
    rows = run_cases(args.rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"command": "python -m benchmarks.sync_state", "results": rows}, indent=2))


if __name__ == "__main__":
    main()
