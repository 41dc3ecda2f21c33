"""Scale cases: back-to-back tasks on HubSpot's real window, many tasks on one app budget.

* :func:`back_to_back`: a task started right after another one (whose 20 requests are still in
  HubSpot's real 10 s window of 100) against the same task alone; 500 / 2,000 / 5,000 events over
  HTTP, each task a fresh process, 100 ms latency, the runner's default settings. The ideal is
  ``ceil(requests / in-flight) x latency`` (the requests fit in what the window has left); the
  wall time also holds reading and validating the input.
* :func:`shared_processes`: N real processes started together, each configured with the full
  budget, equal input (the compressed window of the other HTTP cases).
* :func:`simulated`: the deterministic simulation (:mod:`benchmarks.simulate`, the real limiter on
  a fake clock against the sandbox's window semantics and headers) for N = 2 to 64 sharers of
  HubSpot's 100 per 10 s, and a run where tasks start late and finish early (the plot).
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import datagen
from benchmarks.metrics import summarise_log
from benchmarks.ours import GO_FILE
from benchmarks.sandbox_proc import SandboxProcess
from benchmarks.simulate import SimResult, SimTask, simulate
from benchmarks.worker import collect, run, spawn
from hubspot_events_provider.core.http.limiter_law import DEFAULT_TUNING, initial_slack

__all__ = ["back_to_back", "plot_scale", "shared_processes", "simulated", "simulated_store", "store_slack"]

IN_FLIGHT = 8


def _ours(
    sb: SandboxProcess, path: Path, rate_limit: int, window_s: float, overlap: bool = True
) -> dict[str, Any]:
    spec = {
        "kind": "ours",
        "path": str(path),
        "url": sb.url,
        "rate_limit": rate_limit,
        "window_s": window_s,
        "max_in_flight": IN_FLIGHT,
        "overlap": overlap,
    }
    return run(spec, sb.token)


def back_to_back(
    data: Path, sizes: list[int], latency_s: float = 0.1, *, overlap: bool = True
) -> list[dict[str, Any]]:
    """Each size alone, then right after a 2,000-event task, on HubSpot's real window (100 / 10 s).

    :param data: scratch directory.
    :param sizes: events per measured task.
    :param latency_s: the sandbox's fixed latency.
    :param overlap: the measured tasks' ``UpsertOptions.overlap`` (default: the runner's default,
        reading overlapped with sending, as a new user runs it).
    """
    before = datagen.write_jsonl(data / "b2b-before.jsonl", 2_000, prefix="before")
    out: list[dict[str, Any]] = []
    cfg = {"rate_limit": 100, "rate_window_s": 10.0, "latency_s": [latency_s, latency_s]}
    with SandboxProcess(cfg) as sb:
        for n in sizes:
            path = datagen.write_jsonl(data / f"b2b-{n}.jsonl", n, prefix=f"b{n}")
            requests = math.ceil(n / 100)
            sb.reset()
            alone = _ours(sb, path, 100, 10.0, overlap)
            sb.reset()
            first = _ours(sb, before, 100, 10.0, overlap)
            after = _ours(sb, path, 100, 10.0, overlap)  # a new process: its requests join the window
            log = summarise_log(sb.requests(), 100, 10.0)
            ideal = math.ceil(requests / IN_FLIGHT) * latency_s
            out.append(
                {
                    "n": n,
                    "requests": requests,
                    "ideal_s": round(ideal, 3),
                    "alone_s": alone["wall_s"],
                    "after_s": after["wall_s"],
                    "after_over_ideal": round(float(after["wall_s"]) / ideal, 2),
                    "before_s": first["wall_s"],
                    "rate_limited": log.get("rate_limited"),
                    "max_in_window": log.get("max_requests_in_window"),
                }
            )
    return out


def shared_processes(
    sb: SandboxProcess, data: Path, counts: list[int], total: int, settings: dict[str, Any]
) -> list[dict[str, Any]]:
    """N processes started together with equal input (``total / N`` events each).

    :param sb: the sandbox (reset per N).
    :param data: scratch directory.
    :param counts: the values of N.
    :param total: events over all processes.
    :param settings: ``rate_limit``, ``window_s``, ``tell_sharers`` (each limiter is told N),
        ``tuning`` (limiter constants that differ from the default, or ``None``), ``budget_store``
        (a Redis URL), ``during`` (called once every process runs) and ``aligned``: each process
        waits for a common start signal before its clock starts (:func:`benchmarks.ours.await_start`);
        without it each is measured from its own start, seconds apart with many processes.
    """
    out: list[dict[str, Any]] = []
    for n_proc in counts:
        signal = Path(tempfile.mkdtemp(prefix="start-", dir=data)) if settings.get("aligned") else None
        each = total // n_proc
        paths = [
            datagen.write_jsonl(data / f"sp{n_proc}-{i}.jsonl", each, prefix=f"s{n_proc}p{i}")
            for i in range(n_proc)
        ]
        sb.reset()
        specs = [
            {
                "kind": "ours",
                "path": str(p),
                "url": sb.url,
                "rate_limit": settings["rate_limit"],
                "window_s": settings["window_s"],
                "max_in_flight": IN_FLIGHT,
                "sharers": n_proc if settings.get("tell_sharers") else None,
                "budget_store": settings.get("budget_store"),
                "tuning": settings.get("tuning"),
                "start_signal": str(signal) if signal else None,
            }
            for p in paths
        ]
        started = time.perf_counter()
        procs = [spawn(s, sb.token) for s in specs]
        if signal is not None:
            _start_together(signal, n_proc)
        if settings.get("during") is not None:
            settings["during"]()  # e.g. kill the shared store mid-run
        results = [collect(p) for p in procs]
        wall_all = time.perf_counter() - started
        walls = [float(r["wall_s"]) for r in results]
        log = summarise_log(sb.requests(), settings["rate_limit"], settings["window_s"])
        upserted = sum(int(r.get("upserted") or 0) for r in results)
        ceiling = settings["rate_limit"] * 100 / settings["window_s"]
        out.append(
            {
                "processes": n_proc,
                "n": each * n_proc,
                "upserted": upserted,
                "stored_events": sb.stats().get("events", 0),
                "wall_s": max(walls),
                "wall_incl_process_start_s": round(wall_all, 2),
                "fraction_of_ceiling": round(upserted / max(walls) / ceiling, 3),
                "slowest_over_fastest": round(max(walls) / min(walls), 2),
                "store_warnings": [int(r.get("store_warnings") or 0) for r in results],
                "server": log,
            }
        )
        out[-1]["aligned_start"] = signal is not None
        for p in paths:
            p.unlink()
        if signal is not None:
            shutil.rmtree(signal, ignore_errors=True)
    return out


def _start_together(signal: Path, n_proc: int, timeout_s: float = 300.0) -> None:
    """Wait until ``n_proc`` processes are ready in ``signal``, then start them all (``go``)."""
    deadline = time.monotonic() + timeout_s
    while len(list(signal.glob("ready-*"))) < n_proc:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(list(signal.glob('ready-*')))} of {n_proc} processes got ready")
        time.sleep(0.01)
    (signal / GO_FILE).touch()


def _sim_row(n_tasks: int, result: SimResult, maximum: int, window_s: float) -> dict[str, Any]:
    span = max(result.accepted) - min(result.accepted)
    attempts = len(result.accepted) + len(result.refused)
    return {
        "tasks": n_tasks,
        "requests": len(result.accepted),
        "fraction_of_ceiling": round(len(result.accepted) / span / (maximum / window_s), 3),
        # First to last accepted spans one window less than the budget's use: the first window's
        # requests all go at once. Counting that window too is the conservative figure.
        "fraction_full_windows": round(len(result.accepted) / (span + window_s) / (maximum / window_s), 3),
        "rate_limited_pct": round(100 * len(result.refused) / attempts, 2),
        "slowest_over_fastest": round(result.finish_spread(), 2),
        "max_in_window": result.max_per_window,
    }


def simulated(counts: list[int], requests_each: int, seeds: list[int]) -> dict[str, Any]:
    """The simulation for N sharers of 100 per 10 s (worst seed of each N), and late/early tasks.

    Tasks start within 20 ms of each other (harder than Airflow, which starts them over seconds).

    :param counts: the values of N.
    :param requests_each: requests (batches of 100 events) over all tasks, split equally (enough
        for about 20 windows: a run shorter than a few windows says nothing about the rate).
    :param seeds: one run per seed; the worst figures are kept.
    """
    rows = _sharer_rows(counts, requests_each, seeds, known=False)
    known = _sharer_rows(counts, requests_each, seeds, known=True)
    # Four tasks from the start, one short task that finishes early, two that start 40 s late.
    tasks = [SimTask(150) for _ in range(4)] + [SimTask(30)] + [SimTask(80, start=40.0) for _ in range(2)]
    result = simulate(tasks, seed=seeds[0])
    timeline = [
        {"task": i, "start": t.start, "finished": t.finished, "accepted": [round(a, 2) for a in t.accepted]}
        for i, t in enumerate(tasks)
    ]
    late = _sim_row(len(tasks), result, 100, 10.0)
    late.pop("slowest_over_fastest")
    told = simulate(
        [SimTask(150) for _ in range(4)] + [SimTask(30)] + [SimTask(80, start=40.0) for _ in range(2)],
        seed=seeds[0],
        sharers=len(tasks),
    )
    late_known = _sim_row(len(tasks), told, 100, 10.0)
    late_known.pop("slowest_over_fastest")
    late_known["late_finished"] = [round(t.finished or 0.0, 1) for t in told.tasks]
    late_known["timeline"] = [
        {"task": i, "start": t.start, "finished": t.finished, "accepted": [round(a, 2) for a in t.accepted]}
        for i, t in enumerate(told.tasks)
    ]
    return {
        "sharers": rows,
        "sharers_known": known,
        "late_and_early": {**late, "timeline": timeline},
        "late_and_early_known": late_known,
    }


def store_slack(window_s: float) -> float:
    """The time slack the store gate adds to a grant after the task's first window (its base slack)."""
    return initial_slack(DEFAULT_TUNING, window_s)


def simulated_store(counts: list[int], requests_each: int, seeds: list[int]) -> list[dict[str, Any]]:
    """N tasks sharing HubSpot's 100 per 10 s through the store (one exact admission window with the
    gate's slack), started together; worst seed of each N."""
    return _sharer_rows(counts, requests_each, seeds, known=False, slack=store_slack(10.0))


def _sharer_rows(
    counts: list[int], requests_each: int, seeds: list[int], *, known: bool, slack: float | None = None
) -> list[dict[str, Any]]:
    """N tasks started together (worst seed of each N); ``known``: each limiter is told N;
    ``slack``: the tasks share the budget through the store (:func:`simulated_store`)."""
    rows = []
    for n_tasks in counts:
        each = max(1, requests_each // n_tasks)
        runs = [
            _sim_row(
                n_tasks,
                simulate(
                    [SimTask(each) for _ in range(n_tasks)],
                    seed=s,
                    sharers=n_tasks if known else None,
                    store_slack=slack,
                ),
                100,
                10.0,
            )
            for s in seeds
        ]
        rows.append(
            {
                **runs[0],
                "fraction_of_ceiling": min(r["fraction_of_ceiling"] for r in runs),
                "fraction_full_windows": min(r["fraction_full_windows"] for r in runs),
                "rate_limited_pct": max(r["rate_limited_pct"] for r in runs),
                "slowest_over_fastest": max(r["slowest_over_fastest"] for r in runs),
                "max_in_window": max(r["max_in_window"] for r in runs),
                "seeds": len(runs),
            }
        )
    return rows


def _plot_timeline(ax: Any, timeline: list[dict[str, Any]], title: str) -> None:
    """Accepted requests per 10 s of each task (5 s buckets) in the late/early simulation."""
    for task in timeline:
        buckets: dict[int, int] = {}
        for a in task["accepted"]:
            buckets[int(a // 5)] = buckets.get(int(a // 5), 0) + 1
        xs = sorted(buckets)
        ax.plot(
            [x * 5 for x in xs],
            [buckets[x] * 2 for x in xs],
            label=f"task {task['task']} (start {task['start']:g} s)",
        )
    ax.axhline(90, color="grey", linestyle=":", label="90 / 10 s")
    ax.set_xlabel("simulated seconds")
    ax.set_ylabel("accepted requests per 10 s")
    ax.set_title(f"Late starters, an early finisher: {title}")
    ax.legend(fontsize=7)


def plot_scale(doc: dict[str, Any], path: Path) -> None:
    """Requests per 10 s of each task in the late/early simulation, and N-sharer figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sim = doc["simulated"]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(19, 4.5))
    _plot_timeline(left, sim["late_and_early"]["timeline"], "not told")
    told_timeline = (sim.get("late_and_early_known") or {}).get("timeline")
    if told_timeline:
        _plot_timeline(middle, told_timeline, "each told 7 sharers")
    rows = sim["sharers"]
    ns = [r["tasks"] for r in rows]
    right.plot(ns, [r["fraction_of_ceiling"] for r in rows], marker="o", label="aggregate / ceiling")
    right.plot(ns, [r["slowest_over_fastest"] for r in rows], marker="s", label="slowest / fastest")
    right.plot(ns, [r["rate_limited_pct"] / 10 for r in rows], marker="^", label="429s (% / 10)")
    told = sim.get("sharers_known") or []
    if told:
        tn = [r["tasks"] for r in told]
        right.plot(tn, [r["fraction_of_ceiling"] for r in told], "o--", label="aggregate, told N")
        right.plot(tn, [r["slowest_over_fastest"] for r in told], "s--", label="slowest / fastest, told N")
    for real in doc.get("shared_processes") or []:
        right.scatter([real["processes"]], [real["fraction_of_ceiling"]], color="red", zorder=3)
    right.set_xscale("log", base=2)
    right.axhline(0.85, color="grey", linestyle=":")
    right.axhline(1.5, color="grey", linestyle="--")
    right.set_xlabel("tasks sharing one app budget (red: real processes)")
    right.set_title("N tasks started together, equal input")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown_scale(doc: dict[str, Any]) -> list[str]:
    """The scale section of ``latest.md`` (empty when the document has no scale cases)."""
    lines: list[str] = []
    if doc.get("back_to_back"):
        lines += [
            "",
            "### Back to back (HubSpot's real window: 100 per 10 s, 100 ms latency, 8 in flight)",
            "",
            "A task started right after a 2,000-event task (its 20 requests still in the window); "
            "the runner's default settings (reading overlapped with sending; a short input is read "
            "whole while its first request is out).",
            "",
            "| events | requests | ideal (s) | alone (s) | right after (s) | after / ideal | 429s |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in doc["back_to_back"]:
            lines.append(
                f"| {r['n']:,} | {r['requests']} | {r['ideal_s']} | {r['alone_s']} | {r['after_s']} "
                f"| {r['after_over_ideal']} | {r['rate_limited']} |"
            )
    if doc.get("shared_processes"):
        lines += [
            "",
            "### N processes started together, each with the full budget (equal input)",
            "",
            "| processes | events | wall (s) | of ceiling | 429s | slowest / fastest | busiest window "
            "| stored |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in doc["shared_processes"]:
            s = r["server"]
            lines.append(
                f"| {r['processes']} | {r['n']:,} | {r['wall_s']} | {r['fraction_of_ceiling']} "
                f"| {s['rate_limited']} ({s['rate_limited_pct']} %) | {r['slowest_over_fastest']} "
                f"| {s['max_requests_in_window']} | {r['stored_events']:,} |"
            )
    if doc.get("simulated"):
        sim = doc["simulated"]
        lines += [
            "",
            "### Simulation: N tasks sharing 100 per 10 s (fake clock, sandbox window semantics; worst seed)",
            "",
            "| tasks | requests | of ceiling | 429s (%) | slowest / fastest | busiest window |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in sim["sharers"]:
            lines.append(
                f"| {r['tasks']} | {r['requests']} | {r['fraction_of_ceiling']} | {r['rate_limited_pct']} "
                f"| {r['slowest_over_fastest']} | {r['max_in_window']} |"
            )
        if sim.get("sharers_known"):
            lines += [
                "",
                "Each limiter told the number of sharers (`RollingWindowLimiter(sharers=N)`):",
                "",
                "| tasks | requests | of ceiling | 429s (%) | slowest / fastest | busiest window |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for r in sim["sharers_known"]:
                lines.append(
                    f"| {r['tasks']} | {r['requests']} | {r['fraction_of_ceiling']} "
                    f"| {r['rate_limited_pct']} | {r['slowest_over_fastest']} | {r['max_in_window']} |"
                )
        late = sim["late_and_early"]
        lines += [
            "",
            f"Late starters / early finisher (plot `scale.png`): {late['tasks']} tasks, "
            f"{late['fraction_of_ceiling']} of the ceiling, {late['rate_limited_pct']} % 429s, "
            f"busiest window {late['max_in_window']}.",
        ]
        told = sim.get("late_and_early_known")
        if told:
            lines.append(
                f"The same, each limiter told 7 sharers: {told['fraction_of_ceiling']} of the ceiling, "
                f"{told['rate_limited_pct']} % 429s, tasks finished at {told['late_finished']} s."
            )
    return lines
