"""Peak memory and time of the sync state (``core/sync/state.py``) at 100k and 1M keys.

``python -m benchmarks.state_memory [--keys 100000 1000000]`` runs each phase in a fresh process
(so each peak RSS is that phase's alone) and writes ``benchmarks/results/state_memory.json``:

- ``write``: open a missing state, record N confirmed digests (streamed), commit (atomic publish);
- ``check``: reopen it, ask ``is_unchanged`` for every key (what the pre-send filter does on a
  no-change daily run), then again with ``unchanged_flags`` in chunks of 1000, compute
  ``missing_keys`` with 1 % of the keys gone and iterate them, commit. Both check times include
  computing the digests.

RSS is ``ru_maxrss`` of the phase's process; ``baseline_rss_mb`` is the RSS after the imports,
before the phase, so ``growth_mb`` is what the state itself cost. Memory is flat when growth does
not follow N.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hubspot_events_provider.core.sync.digest import payload_digest
from hubspot_events_provider.core.sync.state import SyncState

RESULTS = Path(__file__).resolve().parent / "results" / "state_memory.json"


def _rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _keys(n: int) -> Iterator[tuple[str, str]]:
    for i in range(n):
        yield (f"account-{i % 7}", f"event-{i:08d}")


def _digest(i: int) -> str:
    return payload_digest({"externalEventId": f"event-{i:08d}", "eventName": f"Event {i}", "n": i})


def phase_write(path: Path, n: int) -> dict[str, Any]:
    """Record ``n`` confirmed digests into a new state and publish it."""
    started = time.perf_counter()
    with SyncState(path) as state:
        for i, key in enumerate(_keys(n)):
            state.record_confirmed(key, _digest(i))
        recorded = time.perf_counter()
        state.commit()
    done = time.perf_counter()
    return {
        "record_s": round(recorded - started, 2),
        "commit_s": round(done - recorded, 2),
        "state_mb": round(path.stat().st_size / 2**20, 1),
    }


def phase_check(path: Path, n: int) -> dict[str, Any]:
    """Reopen, check every key, find the 1 % missing, publish."""
    started = time.perf_counter()
    with SyncState(path) as state:
        opened = time.perf_counter()
        unchanged = sum(1 for i, key in enumerate(_keys(n)) if state.is_unchanged(key, _digest(i)))
        one_by_one = time.perf_counter()
        chunk: list[tuple[tuple[str, str], str]] = []
        flagged = 0
        for i, key in enumerate(_keys(n)):
            chunk.append((key, _digest(i)))
            if len(chunk) == 1000:
                flagged += sum(state.unchanged_flags(chunk))
                chunk.clear()
        flagged += sum(state.unchanged_flags(chunk))
        checked = time.perf_counter()
        seen = (key for i, key in enumerate(_keys(n)) if i % 100 != 0)
        missing = state.missing_keys(seen)
        iterated = sum(1 for _key in missing)
        found = time.perf_counter()
        state.commit()
    done = time.perf_counter()
    return {
        "open_s": round(opened - started, 2),
        "is_unchanged_s": round(one_by_one - opened, 2),
        "unchanged_flags_s": round(checked - one_by_one, 2),
        "unchanged": unchanged,
        "unchanged_chunked": flagged,
        "missing_keys_s": round(found - checked, 2),
        "missing": iterated,
        "known": missing.known,
        "commit_s": round(done - found, 2),
    }


def run_phase(phase: str, path: Path, n: int) -> dict[str, Any]:
    """Run one phase in this process and return its figures with the RSS."""
    baseline = _rss_mb()
    figures = (phase_write if phase == "write" else phase_check)(path, n)
    peak = _rss_mb()
    return {
        "phase": phase,
        "keys": n,
        **figures,
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(peak, 1),
        "growth_mb": round(peak - baseline, 1),
    }


def main(argv: list[str] | None = None) -> None:
    """Run every phase for every size in fresh processes; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--phase", choices=["write", "check"])
    parser.add_argument("--path")
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(run_phase(args.phase, Path(args.path), args.keys[0])))
        return
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="state-bench-") as tmp:
        for n in args.keys:
            path = Path(tmp) / f"state-{n}.sqlite3"
            for phase in ("write", "check"):
                cmd = [sys.executable, "-m", "benchmarks.state_memory", "--phase", phase, "--path", str(path)]
                out = subprocess.run([*cmd, "--keys", str(n)], check=True, capture_output=True, text=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(json.dumps(row))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"command": "python -m benchmarks.state_memory", "results": rows}, indent=2)
    )


if __name__ == "__main__":
    main()
