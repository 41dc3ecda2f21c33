"""Kill the task process mid-run (SIGKILL, as an OOM killer or a lost worker would), rerun it as an
Airflow retry does, and check the final state: every valid row in HubSpot with its latest values,
every other row in the rerun's rejected file, no event created twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer
from tests.conftest import REPO_ROOT
from tests.reliability.conftest import Recorder
from tests.reliability.harness import check_invariants, make_workload, read_jsonl

TOKEN = f"pat-na1-CANARY-{uuid.uuid4()}"


def start_worker(sb: SandboxServer, source: Path, out: Path, attempt: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HUBSPOT_URL": sb.url, "HUBSPOT_TOKEN": TOKEN, "PYTHONPATH": str(REPO_ROOT)}
    args = [str(source), str(out / f"try{attempt}.rejected.jsonl"), str(out / f"try{attempt}.results.jsonl")]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability._kill_worker", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigkill_mid_run_then_rerun_ends_correct(tmp_path: Path, record_run: Recorder) -> None:
    w = make_workload(1000, seed=99)
    source = tmp_path / "events.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in w.rows), encoding="utf-8")
    cfg = SandboxConfig(tokens=(TOKEN,), latency_s=(0.01, 0.03), reject_external_event_ids=w.reject_ids)
    with SandboxServer(cfg) as sb:
        first = start_worker(sb, source, tmp_path, 1)
        try:
            deadline = time.monotonic() + 120
            while sb.stats()["applied_upserts"] < 150 and first.poll() is None:
                assert time.monotonic() < deadline, "the task never got going"
                time.sleep(0.01)
            first.send_signal(signal.SIGKILL)
        finally:
            first.wait(30)
        assert first.returncode == -signal.SIGKILL, first.stderr.read() if first.stderr else ""
        applied_before = len(sb.events())
        assert 0 < applied_before < w.unique_sent, "the kill did not land mid-run"

        sb.configure(latency_s=(0.0, 0.0))
        second = start_worker(sb, source, tmp_path, 2)
        stdout, stderr = second.communicate(timeout=120)
        assert second.returncode == 0, stderr.decode()[-2000:]
        # reading overlaps sending: a row sent before its later duplicate counts upserted too
        assert len(w.upserted) <= int(stdout.decode().split()[-1]) <= len(w.upserted | w.superseded)
        logs = [stderr.decode(), first.stderr.read().decode() if first.stderr else ""]
        figures = check_invariants(
            w,
            sb,
            read_jsonl(tmp_path / "try2.rejected.jsonl"),
            read_jsonl(tmp_path / "try2.results.jsonl"),
            secrets=[TOKEN],
            texts=logs,
        )
        figures["faults"] = {"sigkill": 1}
        record_run(figures, outcome="killed, rerun success")
