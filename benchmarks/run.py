"""``make bench`` / ``make bench-quick``: run every benchmark case and write the results.

``python -m benchmarks.run [--quick] [--out DIR]`` generates the data, starts one sandbox process
(compressed rolling window, 100-400 ms latency), runs the HTTP cases (ours, the three baselines,
the shared budget, the scaling curves), then the CPU and memory cases without HTTP, and writes
``latest.json``, ``latest.md`` and ``latest.png`` into ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import attendance, attribution, cases, datagen, scale, store, sync_state
from benchmarks.metrics import ceiling_events_per_s
from benchmarks.output import write_all
from benchmarks.sandbox_proc import SandboxProcess

RESULTS = Path(__file__).resolve().parent / "results"

FULL: dict[str, Any] = {
    "rate_limit": 19,
    "window_s": 1.0,
    "latency_s": [0.1, 0.4],
    "max_in_flight": 8,
    "throughput_n": 20_000,
    "throughput_large_n": 100_000,
    "baseline_threaded_n": 20_000,
    "baseline_loop_n": 5_000,
    "baseline_threads": 8,
    "shared_processes": 4,
    "shared_n_each": 5_000,
    "scaling_sizes": [1_000, 5_000, 20_000, 50_000],
    "inflight_n": 5_000,
    "inflight_values": [1, 2, 4, 8, 16],
    "cpu_n": 50_000,
    "memory_sizes": [1_000, 10_000, 100_000, 1_000_000],
    "back_to_back_sizes": [500, 2_000, 5_000],
    "shared_counts": [2, 4, 8],
    "shared_total": 20_000,
    "shared_baseline_processes": 4,
    "sim_counts": [2, 4, 8, 16, 32, 64],
    "sim_requests_each": 2_000,
    "sim_seeds": [1, 2, 3],
    "store_counts": [2, 4, 8, 16],
}
QUICK: dict[str, Any] = {
    **FULL,
    "throughput_n": 5_000,
    "throughput_large_n": None,
    "baseline_threaded_n": 5_000,
    "baseline_loop_n": 1_000,
    "shared_n_each": 1_250,
    "scaling_sizes": [1_000, 5_000],
    "inflight_n": 2_000,
    "inflight_values": [1, 4, 8],
    "cpu_n": 10_000,
    "memory_sizes": [1_000, 10_000, 100_000],
    "back_to_back_sizes": [500, 2_000],
    "shared_counts": [2, 4],
    "sim_seeds": [1],
    "store_counts": [2, 4],
}


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def _dirty() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--", "hubspot_events_provider"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return []
    return [line[3:] for line in out.stdout.splitlines()]


def _step(name: str, fn: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    print(f"[bench] {name} ...", flush=True)
    result = fn()
    print(f"[bench] {name} done in {time.perf_counter() - started:.1f} s", flush=True)
    return result


def run_all(settings: dict[str, Any], data: Path) -> dict[str, Any]:
    """Run every case; return the results document (without writing it).

    :param settings: :data:`FULL` or :data:`QUICK`.
    :param data: scratch directory for generated files.
    """
    s = settings
    results: dict[str, Any] = {"settings": s}
    results["ceiling_events_per_s"] = ceiling_events_per_s(s["rate_limit"], s["window_s"])
    large = s["throughput_large_n"]
    sizes = sorted({s["throughput_n"], s["inflight_n"], *s["scaling_sizes"], *([large] if large else [])})
    jsonl = {n: datagen.write_jsonl(data / f"events-{n}.jsonl", n) for n in sizes}
    shared = [
        datagen.write_jsonl(data / f"shared-{i}.jsonl", s["shared_n_each"], prefix=f"p{i}")
        for i in range(s["shared_processes"])
    ]
    sandbox_cfg = {"rate_limit": s["rate_limit"], "rate_window_s": s["window_s"], "latency_s": s["latency_s"]}
    with SandboxProcess(sandbox_cfg) as sb:
        n = s["throughput_n"]
        results["throughput"] = _step(
            "throughput (ours)", lambda: cases.ours(sb, jsonl[n], n, s, s["max_in_flight"])
        )
        if large:
            results["throughput_large"] = _step(
                f"throughput n={large:,} (ours)",
                lambda: cases.ours(sb, jsonl[large], large, s, s["max_in_flight"]),
            )
        base: list[dict[str, Any]] = []
        for name in ("official", "sdk", "requests"):
            for threads, bn in ((s["baseline_threads"], s["baseline_threaded_n"]), (1, s["baseline_loop_n"])):
                res = _step(
                    f"baseline {name} threads={threads}",
                    lambda name=name, threads=threads, bn=bn: cases.baseline(sb, name, bn, s, threads),
                )
                res["name"] = name
                base.append(res)
        results["baselines"] = base
        results["shared_budget"] = _step(
            "shared budget",
            lambda: cases.shared_budget(sb, shared, s["shared_n_each"], s, s["max_in_flight"]),
        )
        scaling: list[dict[str, Any]] = []
        for size in s["scaling_sizes"]:
            if size == n:
                scaling.append(results["throughput"])
                continue
            scaling.append(
                _step(
                    f"scaling n={size}",
                    lambda size=size: cases.ours(sb, jsonl[size], size, s, s["max_in_flight"]),
                )
            )
        results["scaling_size"] = scaling
        inflight: list[dict[str, Any]] = []
        for k in s["inflight_values"]:
            inflight.append(
                _step(
                    f"max_in_flight={k}",
                    lambda k=k: cases.ours(sb, jsonl[s["inflight_n"]], s["inflight_n"], s, k),
                )
            )
        results["scaling_inflight"] = inflight
        results["attendance"] = _step("attendance throughput", lambda: attendance.case(sb, data, s))
        results["shared_processes"] = _step(
            "shared processes N=" + ",".join(map(str, s["shared_counts"])),
            lambda: scale.shared_processes(sb, data, s["shared_counts"], s["shared_total"], s),
        )
        results["shared_processes_told"] = _step(
            "shared processes, each told N",
            lambda: scale.shared_processes(
                sb, data, s["shared_counts"], s["shared_total"], {**s, "tell_sharers": True}
            ),
        )
        k = s["shared_baseline_processes"]
        results["shared_baselines"] = [
            _step(
                f"shared baseline {name} x{k}",
                lambda name=name: cases.shared_baselines(
                    sb, name, k, s["shared_total"], s, s["baseline_threads"]
                ),
            )
            for name in ("official", "sdk")
        ]
        results["store"] = _step(
            "shared budget store (Redis) N=" + ",".join(map(str, s["store_counts"])),
            lambda: store.store_cases(sb, data, {**store.SETTINGS, "store_counts": s["store_counts"]}),
        )
    results["back_to_back"] = _step(
        "back to back (10 s window)", lambda: scale.back_to_back(data, s["back_to_back_sizes"])
    )
    results["simulated"] = _step(
        "simulation N=" + ",".join(map(str, s["sim_counts"])),
        lambda: scale.simulated(s["sim_counts"], s["sim_requests_each"], s["sim_seeds"]),
    )

    cpu_files = {
        "jsonl": datagen.write_jsonl(data / "cpu.jsonl", s["cpu_n"]),
        "csv": datagen.write_csv(data / "cpu.csv", s["cpu_n"]),
        "sql": datagen.write_sqlite(data / "cpu.db", s["cpu_n"]),
    }
    results["cpu"] = _step("cpu (no HTTP)", lambda: cases.cpu(cpu_files))
    for path in cpu_files.values():
        path.unlink()
    mem_files = {
        m: jsonl.get(m) or datagen.write_jsonl(data / f"events-{m}.jsonl", m) for m in s["memory_sizes"]
    }
    results["memory"] = _step("memory (dry runs)", lambda: cases.dry_runs(mem_files))
    results["sync_state"] = _step(
        "sync state: no-change / 1 % changed daily run", lambda: sync_state.run_cases(100_000)
    )
    results["attribution"] = _step("refused rows: requests per error shape", attribution.run)
    return results


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    :param argv: arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description="Run the hubspot-events-provider benchmarks.")
    parser.add_argument("--quick", action="store_true", help="a short run (under 2 minutes)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    started = time.perf_counter()
    data = Path(tempfile.mkdtemp(prefix="hubspot-bench-"))
    try:
        doc: dict[str, Any] = {
            "command": "make bench-quick" if args.quick else "make bench",
            "argv": ["python", "-m", "benchmarks.run", *(argv if argv is not None else sys.argv[1:])],
            "mode": "quick" if args.quick else "full",
            "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": _machine(),
            "git_commit": _commit(),
            "uncommitted_package_files": _dirty(),
        }
        doc.update(run_all(settings, data))
    finally:
        shutil.rmtree(data, ignore_errors=True)
    doc["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc["total_wall_s"] = round(time.perf_counter() - started, 1)
    paths = write_all(doc, args.out)
    print(f"[bench] wrote {', '.join(str(p) for p in paths)} in {doc['total_wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
