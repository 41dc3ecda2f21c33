"""Shared budget store cases: N real processes on one app budget through Redis, and Redis killed.

``python -m benchmarks.store [--counts 2 4 8 16]`` runs only these cases (the whole ``make bench``
runs them too) and writes ``results/store.json`` and ``results/store.md``:

* for each N, the processes with ``budget_store`` (one rolling window in Redis) and, in the same
  run, the current law without a store (not told N), on the compressed window of the other HTTP
  cases (19 per 1 s, 100-400 ms latency), equal input: 20,800 events, so every process's share
  is whole batches of 100 for N = 2 to 16 (16 x 1,300); with 20,000 each of 16 processes would end
  on a half batch and 208 requests would carry 200 requests' worth of events;
* 4 processes with the store, Redis killed (SIGKILL) a third into the run: every process must
  finish on its local limiter, every event stored once, one store warning per process;
* the store on a 2 s compressed window (38 per 2 s: the same ceiling): the grant's time slack
  (100 ms) costs half as much of a 2 s window as of a 1 s one;
* the simulation (:func:`benchmarks.scale.simulated_store`): 2-64 tasks sharing HubSpot's 100 per
  10 s through one exact admission window with the gate's slack.

Every process starts its clock at one common signal (``aligned``: imports and set-up done first),
so slowest/fastest compares the runs, not the processes' start-up times.

The Redis server is Debian's ``redis-server`` on loopback (``make redis-deps``), with a password
that never reaches the results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import scale
from benchmarks.sandbox_proc import SandboxProcess

__all__ = ["LocalRedis", "main", "store_cases"]

RESULTS = Path(__file__).resolve().parent / "results"
#: How the store table names the official clients of the same ``make bench`` run.
OFFICIAL_NAMES = {"official": "hubspot-api-client 12.0.0", "sdk": "hubspot-sdk 0.1.0a9"}
SETTINGS: dict[str, Any] = {
    "rate_limit": 19,
    "window_s": 1.0,
    "latency_s": [0.1, 0.4],
    "store_counts": [2, 4, 8, 16],
    "store_total": 20_800,
    "killed_processes": 4,
    "killed_after_s": 3.0,
    "aligned": True,
    "wide_rate_limit": 38,
    "wide_window_s": 2.0,
    "sim_counts": [2, 4, 8, 16, 32, 64],
    "sim_requests_each": 2_000,
    "sim_seeds": [1, 2, 3],
}


class LocalRedis:
    """A ``redis-server`` on 127.0.0.1 with a random password and no persistence."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: `make redis-deps`")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.password = secrets.token_hex(12)
        self.url = f"redis://:{self.password}@127.0.0.1:{self.port}/0"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._proc = subprocess.Popen(
            [*args, "--requirepass", self.password],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not self._answers():
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the server (no goodbye to its clients)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=30)


def store_cases(sb: SandboxProcess, data: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """N processes with the store and without, side by side; then Redis killed mid-run.

    :param sb: the sandbox (compressed window).
    :param data: scratch directory.
    :param settings: :data:`SETTINGS` (``store_counts``, ``store_total``...).
    """
    s = settings
    redis = LocalRedis()
    try:
        with_store = scale.shared_processes(
            sb, data, s["store_counts"], s["store_total"], {**s, "budget_store": redis.url}
        )
        without = scale.shared_processes(sb, data, s["store_counts"], s["store_total"], s)
    finally:
        redis.kill()
    killed_redis = LocalRedis()
    try:
        killed = scale.shared_processes(
            sb,
            data,
            [s["killed_processes"]],
            s["store_total"],
            {
                **s,
                "budget_store": killed_redis.url,
                "during": lambda: (time.sleep(s["killed_after_s"]), killed_redis.kill()),
            },
        )
    finally:
        killed_redis.kill()
    return {
        "with_store": with_store,
        "without_store": without,
        "redis_killed": killed[0],
        "with_store_2s_window": _wide_window(sb, data, s),
        "simulated": scale.simulated_store(s["sim_counts"], s["sim_requests_each"], s["sim_seeds"]),
    }


def _wide_window(sb: SandboxProcess, data: Path, s: dict[str, Any]) -> list[dict[str, Any]]:
    """The store on a 2 s window of the same ceiling (38 per 2 s); the sandbox is set back after."""
    wide = {**s, "rate_limit": s["wide_rate_limit"], "window_s": s["wide_window_s"]}
    redis = LocalRedis()
    sb.reset(rate_limit=wide["rate_limit"], rate_window_s=wide["window_s"])
    try:
        return scale.shared_processes(
            sb, data, s["store_counts"], s["store_total"], {**wide, "budget_store": redis.url}
        )
    finally:
        redis.kill()
        sb.reset(rate_limit=s["rate_limit"], rate_window_s=s["window_s"])


def markdown_store(doc: dict[str, Any]) -> list[str]:
    """The store section of ``latest.md`` / ``store.md`` (empty without the cases)."""
    cases = doc.get("store")
    if not cases:
        return []
    lines = [
        "",
        "### N processes on one app budget: with the shared store (Redis) and without (same run)",
        "",
        "| processes | store | of ceiling | 429s | slowest / fastest | busiest window | stored "
        "| store warnings |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = [("yes", r) for r in cases["with_store"]] + [("no", r) for r in cases["without_store"]]
    rows.append(("killed at 3 s", cases["redis_killed"]))
    rows += [("yes, 2 s window", r) for r in cases.get("with_store_2s_window", [])]
    # make bench runs the official clients on the same budget in the same run (no store, no limiter)
    official = doc.get("shared_baselines") or []
    rows += [(f"{OFFICIAL_NAMES.get(r['name'], r['name'])}, no store", r) for r in official]
    for label, r in sorted(rows, key=lambda x: x[1]["processes"]):
        srv = r["server"]
        lines.append(
            f"| {r['processes']} | {label} | {round(r['fraction_of_ceiling'], 3)} "
            f"| {srv['rate_limited']} ({srv['rate_limited_pct']} %) | {r['slowest_over_fastest']} "
            f"| {srv['max_requests_in_window']} / {srv['window_limit']} "
            f"| {r['stored_events']:,} / {r['n']:,} "
            f"| {sum(r.get('store_warnings') or [])} |"
        )
    return lines + _markdown_simulated(cases.get("simulated") or [])


def _markdown_simulated(rows: list[dict[str, Any]]) -> list[str]:
    """The simulated store rows (100 per 10 s, worst of the seeds)."""
    if not rows:
        return []
    lines = [
        "",
        "### Simulation: N tasks sharing 100 per 10 s through the store (worst of the seeds)",
        "",
        "| tasks | of ceiling (first to last) | of ceiling (span + one window) | 429s | slowest / fastest "
        "| busiest window |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['tasks']} | {r['fraction_of_ceiling']} | {r['fraction_full_windows']} "
            f"| {r['rate_limited_pct']} % | {r['slowest_over_fastest']} | {r['max_in_window']} / 100 |"
        )
    return lines


def write_store(doc: dict[str, Any], out: Path) -> list[str]:
    """Write ``store.json`` and ``store.md`` (the store section and its targets) into ``out``.

    :param doc: a results document with a ``store`` section (this command's or ``make bench``'s).
    :returns: the lines of ``store.md``.
    """
    from benchmarks.output import store_targets

    out.mkdir(parents=True, exist_ok=True)
    keep = ("command", "timestamp", "git_commit", "settings", "store", "shared_baselines", "total_wall_s")
    part = {key: doc[key] for key in keep if key in doc}
    (out / "store.json").write_text(json.dumps(part, indent=2) + "\n")
    lines = ["# Shared budget store", *markdown_store(part), "", "### Targets", ""]
    lines += ["| target | goal | measured | result |", "| --- | --- | --- | --- |"]
    for t in store_targets(part):
        verdict = "met" if t["met"] else "**MISSED**"
        lines.append(f"| {t['target']} | {t['goal']} | {t['measured']} | {verdict} |")
    (out / "store.md").write_text("\n".join(lines) + "\n")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run only the store cases and write ``results/store.json`` and ``results/store.md``."""
    parser = argparse.ArgumentParser(description="Shared budget store benchmark cases.")
    parser.add_argument("--counts", type=int, nargs="+", default=SETTINGS["store_counts"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    settings = {**SETTINGS, "store_counts": args.counts}
    data = Path(tempfile.mkdtemp(prefix="hubspot-bench-store-"))
    cfg = {"rate_limit": settings["rate_limit"], "rate_window_s": settings["window_s"]}
    started = time.perf_counter()
    try:
        with SandboxProcess({**cfg, "latency_s": settings["latency_s"]}) as sb:
            cases = store_cases(sb, data, settings)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    doc = {
        "command": "python -m benchmarks.store",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": settings,
        "store": cases,
        "total_wall_s": round(time.perf_counter() - started, 1),
    }
    lines = write_store(doc, args.out)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
