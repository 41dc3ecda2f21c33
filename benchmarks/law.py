"""The limiter law's cases alone: ``python -m benchmarks.law [--repeats 3]``.

Runs only what a change of the control law moves, side by side with the previous law (its
constants in :data:`PREVIOUS`, same code) in the same run, and writes ``results/law.json`` and
``results/law.md``:

* the simulation (fake clock, the sandbox's window semantics): N tasks started together on
  HubSpot's 100 per 10 s (N = 2 to 64, told N or not, seeds 1-3, 2,000 requests in all) and on the
  benchmark's compressed 19 per 1 s (N = 1 to 8, not told, seeds 1-8, 200 requests in all: the
  real-process case below);
* real processes not told N (N = 2, 4, 8, 20,000 events in all, 19 / 1 s, 100-400 ms latency, 8 in
  flight), each repeat reported (2 shared cores: runs are noisy);
* one task alone, 20,000 events (the runner's defaults).

``make bench`` is the whole suite; this is the short loop for working on the law.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import datagen, scale
from benchmarks.run import FULL, RESULTS, _commit, _machine
from benchmarks.sandbox_proc import SandboxProcess
from benchmarks.simulate import SimTask, simulate
from benchmarks.worker import run
from hubspot_events_provider.core.http.limiter_law import LimiterTuning

__all__ = ["PREVIOUS", "main"]

#: The previous law's constants (an equal bonus of half a request, growth of two while starting).
PREVIOUS: dict[str, float] = {"bonus": 0.5, "start_growth": 2.0}
LAWS: dict[str, dict[str, float] | None] = {"current": None, "previous": PREVIOUS}


def _sim(n: int, total: int, seeds: list[int], *, maximum: int, window_s: float, **kw: Any) -> dict[str, Any]:
    """Worst of ``seeds`` for N tasks started together (and each seed's 429 count)."""
    runs = []
    for seed in seeds:
        r = simulate(
            [SimTask(max(1, total // n)) for _ in range(n)],
            seed=seed,
            maximum=maximum,
            window_s=window_s,
            **kw,
        )
        span = max(r.accepted) - min(r.accepted)
        attempts = len(r.accepted) + len(r.refused)
        runs.append(
            (
                len(r.accepted) / span / (maximum / window_s),
                100 * len(r.refused) / attempts,
                r.finish_spread(),
                len(r.refused),
            )
        )
    return {
        "tasks": n,
        "fraction_of_ceiling": round(min(x[0] for x in runs), 3),
        "rate_limited_pct": round(max(x[1] for x in runs), 2),
        "slowest_over_fastest": round(max(x[2] for x in runs), 2),
        "refused_per_seed": [x[3] for x in runs],
    }


def simulated() -> dict[str, Any]:
    """The simulation rows of each law."""
    out: dict[str, Any] = {}
    for name, fields in LAWS.items():
        tuning = LimiterTuning(**(fields or {}))
        big = {"maximum": 100, "window_s": 10.0, "tuning": tuning}
        small = {"maximum": 19, "window_s": 1.0, "tuning": tuning}
        out[name] = {
            "not_told_100_per_10s": [_sim(n, 2000, [1, 2, 3], **big) for n in (2, 4, 8, 16, 32, 64)],
            "told_100_per_10s": [_sim(n, 2000, [1, 2, 3], sharers=n, **big) for n in (2, 4, 8, 16, 32, 64)],
            "not_told_19_per_1s": [_sim(n, 200, list(range(1, 9)), **small) for n in (1, 2, 4, 8)],
        }
    return out


def _one_task(sb: SandboxProcess, path: Path, fields: dict[str, float] | None) -> dict[str, Any]:
    sb.reset()
    spec = {
        "kind": "ours",
        "path": str(path),
        "url": sb.url,
        "rate_limit": FULL["rate_limit"],
        "window_s": FULL["window_s"],
        "max_in_flight": FULL["max_in_flight"],
        "tuning": fields,
    }
    res = run(spec, sb.token)
    ceiling = FULL["rate_limit"] * 100 / FULL["window_s"]
    keep = ("wall_s", "upserted", "requests", "rate_limited", "retries")
    return {
        **{k: res.get(k) for k in keep},
        "fraction_of_ceiling": round(int(res.get("upserted") or 0) / float(res["wall_s"]) / ceiling, 3),
    }


def real(data: Path, repeats: int) -> dict[str, Any]:
    """Real processes: not told N = 2, 4, 8 and one task of 20,000 events, each law, ``repeats`` times."""
    s = FULL
    one = datagen.write_jsonl(data / "one-20000.jsonl", s["throughput_n"])
    cfg = {"rate_limit": s["rate_limit"], "rate_window_s": s["window_s"], "latency_s": s["latency_s"]}
    out: dict[str, Any] = {name: {"shared_not_told": [], "one_task": []} for name in LAWS}
    with SandboxProcess(cfg) as sb:
        for rep in range(repeats):
            for name, fields in LAWS.items():  # alternate the laws: the machine's load drifts
                settings = {**s, "tuning": fields}
                rows = scale.shared_processes(sb, data, s["shared_counts"], s["shared_total"], settings)
                out[name]["shared_not_told"].append({"repeat": rep + 1, "rows": rows})
                out[name]["one_task"].append({"repeat": rep + 1, **_one_task(sb, one, fields)})
                print(f"[law] repeat {rep + 1} {name} done", flush=True)
    return out


def markdown(doc: dict[str, Any]) -> str:
    """``law.md``: the tables of ``law.json``."""
    lines = [
        f"# Limiter law cases ({doc['timestamp']}, commit {doc['git_commit']}, "
        f"load {doc['machine']['load_avg_at_start']} -> {doc['machine'].get('load_avg_at_end')})",
        "",
    ]
    lines += [
        "## Real processes, not told N (19 / 1 s, 20,000 events in all, 100-400 ms, 8 in flight)",
        "",
        "| law | repeat | N | of ceiling | 429s | slowest / fastest | busiest window | stored |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, res in doc["real"].items():
        for rep in res["shared_not_told"]:
            for r in rep["rows"]:
                sv = r["server"]
                lines.append(
                    f"| {name} | {rep['repeat']} | {r['processes']} | {r['fraction_of_ceiling']} "
                    f"| {sv['rate_limited']} ({sv['rate_limited_pct']} %) | {r['slowest_over_fastest']} "
                    f"| {sv['max_requests_in_window']} | {r['stored_events']:,} |"
                )
    lines += [
        "",
        "## One task, 20,000 events",
        "",
        "| law | repeat | wall (s) | of ceiling | retries (429s) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, res in doc["real"].items():
        for r in res["one_task"]:
            lines.append(
                f"| {name} | {r['repeat']} | {r['wall_s']} | {r['fraction_of_ceiling']} | {r['retries']} |"
            )
    for key, title in (
        ("not_told_100_per_10s", "Simulation, not told, 100 / 10 s (worst of seeds 1-3)"),
        ("told_100_per_10s", "Simulation, told N, 100 / 10 s (worst of seeds 1-3)"),
        ("not_told_19_per_1s", "Simulation, not told, 19 / 1 s, 200 requests (worst of seeds 1-8)"),
    ):
        lines += ["", f"## {title}", "", "| N | current | previous |", "| --- | --- | --- |"]
        for cur, prev in zip(
            doc["simulated"]["current"][key], doc["simulated"]["previous"][key], strict=True
        ):
            cell = "{fraction_of_ceiling} / {rate_limited_pct} % / {slowest_over_fastest}"
            lines.append(
                f"| {cur['tasks']} | {cell.format(**cur)} (429s per seed {cur['refused_per_seed']}) "
                f"| {cell.format(**prev)} (429s per seed {prev['refused_per_seed']}) |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    :param argv: arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description="The limiter law's benchmark cases only.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-real", action="store_true", help="the simulation only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    doc: dict[str, Any] = {
        "command": "python -m benchmarks.law",
        "previous_law": PREVIOUS,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "git_commit": _commit(),
    }
    doc["simulated"] = simulated()
    data = Path(tempfile.mkdtemp(prefix="hubspot-law-"))
    try:
        doc["real"] = {} if args.no_real else real(data, args.repeats)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    doc["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "law.json").write_text(json.dumps(doc, indent=1) + "\n")
    (args.out / "law.md").write_text(markdown(doc))
    print(f"[law] wrote {args.out / 'law.json'}, {args.out / 'law.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
