"""Entry point of one benchmark process: ``python -m benchmarks.worker '<json spec>'``.

Each measured client runs in its own process, so client CPU never shares a GIL with the sandbox
or with another client, and peak RSS is per run. The spec's ``kind`` picks the job; the result is
printed as one JSON line on stdout. The sandbox token comes from ``BENCH_SANDBOX_TOKEN`` (never
from argv, never written to the results).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["run_job", "spawn"]

TOKEN_ENV = "BENCH_SANDBOX_TOKEN"


def run_job(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one job in this process.

    :param spec: ``kind`` (``baseline``, ``ours``, ``cpu``, ``dry_run``) and its arguments.
    """
    kind = spec["kind"]
    token = os.environ.get(TOKEN_ENV, "")
    if kind == "baseline":
        from benchmarks.baselines import run_baseline
        from benchmarks.datagen import hubspot_input, rows

        events = [hubspot_input(r) for r in rows(spec["n"], spec.get("prefix", "ev"))]
        return run_baseline(spec["name"], spec["url"], token, events, threads=spec.get("threads", 1))
    if kind == "ours":
        from benchmarks.ours import upsert_file

        return upsert_file(
            Path(spec["path"]),
            spec["url"],
            token,
            rate_limit=spec["rate_limit"],
            window_s=spec["window_s"],
            max_in_flight=spec["max_in_flight"],
            overlap=spec.get("overlap", True),
            sharers=spec.get("sharers"),
            budget_store=spec.get("budget_store"),
            tuning=spec.get("tuning"),
            start_signal=spec.get("start_signal"),
        )
    if kind == "cpu":
        from benchmarks.ours import cpu_pipeline

        return cpu_pipeline(spec["source"], Path(spec["path"]))
    if kind == "dry_run":
        from benchmarks.ours import dry_run

        return dry_run(Path(spec["path"]))
    raise ValueError(f"unknown job kind {kind!r}")


def spawn(spec: dict[str, Any], token: str = "") -> subprocess.Popen[str]:
    """Start a worker process for ``spec``; read its result with :func:`collect`.

    :param spec: the job.
    :param token: sandbox token, passed through the environment.
    """
    env = dict(os.environ)
    env[TOKEN_ENV] = token
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.worker", json.dumps(spec)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def collect(proc: subprocess.Popen[str], timeout: float = 900) -> dict[str, Any]:
    """Wait for a worker and parse its JSON result.

    :param proc: from :func:`spawn`.
    :param timeout: seconds to wait.
    :raises RuntimeError: the worker failed.
    """
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker exited with {proc.returncode}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return dict(json.loads(lines[-1]))


def run(spec: dict[str, Any], token: str = "", timeout: float = 900) -> dict[str, Any]:
    """Run ``spec`` in a fresh process and return its result.

    :param spec: the job.
    :param token: sandbox token.
    :param timeout: seconds to wait.
    """
    return collect(spawn(spec, token), timeout)


if __name__ == "__main__":
    result = run_job(json.loads(sys.argv[1]))
    sys.stdout.write(json.dumps(result) + "\n")
