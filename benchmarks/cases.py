"""The benchmark cases, each a function of (sandbox, data files, settings) returning a result dict.

HTTP cases run every client in its own process against one sandbox process (reset between
cases), and read 429s and achieved rates from the sandbox's request log. CPU and memory cases
run without HTTP, one fresh process per measurement.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.metrics import ceiling_events_per_s, summarise_log
from benchmarks.sandbox_proc import SandboxProcess
from benchmarks.worker import collect, run, spawn

__all__ = ["baseline", "cpu", "dry_runs", "ours", "shared_baselines", "shared_budget"]


def _with_log(
    sb: SandboxProcess, result: dict[str, Any], upserted: int, settings: dict[str, Any]
) -> dict[str, Any]:
    limit, window = settings["rate_limit"], settings["window_s"]
    log = summarise_log(sb.requests(), limit, window)
    ceiling = ceiling_events_per_s(limit, window)
    wall = result["wall_s"]
    result["upserted"] = upserted
    result["events_per_s"] = round(upserted / wall, 1) if wall > 0 else 0.0
    result["fraction_of_ceiling"] = round(result["events_per_s"] / ceiling, 4)
    result["server"] = log
    stored = sb.stats().get("events", 0)
    result["stored_events"] = stored
    return result


def ours(
    sb: SandboxProcess, path: Path, n: int, settings: dict[str, Any], max_in_flight: int
) -> dict[str, Any]:
    """Our runner over HTTP, one process.

    :param sb: the sandbox (reset here).
    :param path: JSONL file with ``n`` rows.
    :param n: rows in the file.
    :param settings: ``rate_limit``, ``window_s``.
    :param max_in_flight: concurrent batches.
    """
    sb.reset()
    spec = {
        "kind": "ours",
        "path": str(path),
        "url": sb.url,
        "rate_limit": settings["rate_limit"],
        "window_s": settings["window_s"],
        "max_in_flight": max_in_flight,
    }
    result = run(spec, sb.token)
    result["n"] = n
    result["max_in_flight"] = max_in_flight
    return _with_log(sb, result, int(result.get("upserted") or 0), settings)


def baseline(sb: SandboxProcess, name: str, n: int, settings: dict[str, Any], threads: int) -> dict[str, Any]:
    """One baseline over HTTP, one process.

    :param sb: the sandbox (reset here).
    :param name: ``official``, ``sdk`` or ``requests``.
    :param n: events to upsert.
    :param settings: ``rate_limit``, ``window_s``.
    :param threads: 1 (plain loop) or a thread pool size.
    """
    sb.reset()
    result = run({"kind": "baseline", "name": name, "n": n, "url": sb.url, "threads": threads}, sb.token)
    result["n"] = n
    result["threads"] = threads
    return _with_log(sb, result, n - int(result["failed_events"]), settings)


def shared_budget(
    sb: SandboxProcess, paths: list[Path], n_each: int, settings: dict[str, Any], max_in_flight: int
) -> dict[str, Any]:
    """Several processes of ours at once, each configured with the whole app budget.

    :param sb: the sandbox (reset here).
    :param paths: one JSONL file per process (distinct event ids).
    :param n_each: rows per file.
    :param settings: ``rate_limit``, ``window_s``.
    :param max_in_flight: concurrent batches per process.
    """
    sb.reset()
    specs = [
        {
            "kind": "ours",
            "path": str(p),
            "url": sb.url,
            "rate_limit": settings["rate_limit"],
            "window_s": settings["window_s"],
            "max_in_flight": max_in_flight,
        }
        for p in paths
    ]
    started = time.perf_counter()
    procs = [spawn(s, sb.token) for s in specs]
    results = [collect(p) for p in procs]
    wall = time.perf_counter() - started
    upserted = sum(int(r.get("upserted") or 0) for r in results)
    out: dict[str, Any] = {
        "processes": len(paths),
        "n": n_each * len(paths),
        "max_in_flight": max_in_flight,
        # as in the single-process case: each worker's own run time (after its imports),
        # the slowest one; the four start within a fraction of a second of each other
        "wall_s": max(float(r["wall_s"]) for r in results),
        "wall_incl_process_start_s": round(wall, 3),
        "per_process": results,
        "retries": sum(int(r.get("retries") or 0) for r in results),
        "client_rate_limited": sum(int(r.get("client_rate_limited") or 0) for r in results),
    }
    return _with_log(sb, out, upserted, settings)


def shared_baselines(
    sb: SandboxProcess, name: str, n_proc: int, total: int, settings: dict[str, Any], threads: int
) -> dict[str, Any]:
    """N processes of one baseline started together on one app budget (equal input), the way
    :func:`benchmarks.scale.shared_processes` runs ours: the same table, side by side.

    :param sb: the sandbox (reset here).
    :param name: ``official`` or ``sdk``.
    :param n_proc: processes.
    :param total: events over all processes (distinct ids per process).
    :param settings: ``rate_limit``, ``window_s``.
    :param threads: thread pool size of each process.
    """
    sb.reset()
    each = total // n_proc
    specs = [
        {
            "kind": "baseline",
            "name": name,
            "n": each,
            "url": sb.url,
            "threads": threads,
            "prefix": f"{name}{i}",
        }
        for i in range(n_proc)
    ]
    procs = [spawn(s, sb.token) for s in specs]
    results = [collect(p) for p in procs]
    walls = [float(r["wall_s"]) for r in results]
    failed = sum(int(r["failed_events"]) for r in results)
    out: dict[str, Any] = {
        "name": name,
        "processes": n_proc,
        "threads": threads,
        "n": each * n_proc,
        "wall_s": max(walls),
        "slowest_over_fastest": round(max(walls) / min(walls), 2),
        "failed_events": failed,
    }
    return _with_log(sb, out, each * n_proc - failed, settings)


def cpu(files: dict[str, Path]) -> list[dict[str, Any]]:
    """Read + map + validate + serialise per source, each in a fresh process.

    :param files: ``jsonl``/``csv``/``sql`` -> data file.
    """
    return [run({"kind": "cpu", "source": source, "path": str(path)}) for source, path in files.items()]


def dry_runs(files: dict[int, Path]) -> list[dict[str, Any]]:
    """Dry runs (no HTTP) of JSONL files of growing size, each in a fresh process (peak RSS).

    :param files: rows -> JSONL file.
    """
    out = []
    for n, path in sorted(files.items()):
        result = run({"kind": "dry_run", "path": str(path)}, timeout=1800)
        result["n"] = n
        out.append(result)
    return out
