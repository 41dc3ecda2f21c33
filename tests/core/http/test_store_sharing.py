"""The shared budget store wired into the client: real processes, a real sandbox, a real Redis.

Several processes upsert into one sandbox app budget through one ``redis-server``; the sandbox's
request log is the judge (no window over the budget, every event stored once). Redis killed
mid-run and Redis unreachable at start must not fail a sync: one warning per task, never the
password.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks import datagen
from benchmarks.metrics import max_in_window
from benchmarks.worker import TOKEN_ENV
from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.sandbox.server import SandboxServer
from tests.redis_server import PASSWORD, free_port, running_redis

BUDGET, WINDOW_S = 10, 1.0


def _spawn(sb: SandboxServer, path: Path, store_url: str) -> subprocess.Popen[str]:
    spec = {
        "kind": "ours",
        "path": str(path),
        "url": sb.url,
        "rate_limit": BUDGET,
        "window_s": WINDOW_S,
        "max_in_flight": 4,
        "budget_store": store_url,
    }
    env = {**__import__("os").environ, TOKEN_ENV: sb.token}
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.worker", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1]), out + err


def _run_processes(
    sb: SandboxServer, tmp_path: Path, store_url: str, n: int, each: int, kill: Any = None
) -> list[tuple[dict[str, Any], str]]:
    sb.configure(rate_limit=BUDGET, rate_window_s=WINDOW_S, latency_s=(0.02, 0.08))
    paths = [datagen.write_jsonl(tmp_path / f"p{i}.jsonl", each, prefix=f"p{i}") for i in range(n)]
    procs = [_spawn(sb, p, store_url) for p in paths]
    if kill is not None:
        kill()
    return [_finish(p) for p in procs]


def _upsert_times(sb: SandboxServer) -> list[float]:
    return [r.at for r in sb.requests() if r.path.endswith("/events/upsert")]


@pytest.mark.slow  # real processes on a 1 s window: arrival jitter under CPU load is the bench's to measure
def test_processes_sharing_the_store_never_overrun_a_window(
    hubspot_sandbox: SandboxServer, tmp_path: Path
) -> None:
    with running_redis() as redis:
        results = _run_processes(hubspot_sandbox, tmp_path, redis.url, n=3, each=2_000)
    assert max_in_window(_upsert_times(hubspot_sandbox), WINDOW_S) <= BUDGET
    assert hubspot_sandbox.stats()["events"] == 6_000  # every event stored once
    assert sum(int(r["upserted"]) for r, _ in results) == 6_000
    assert all(r["store_warnings"] == 0 for r, _ in results)
    assert all(PASSWORD not in text for _, text in results)


def test_redis_killed_mid_run_every_process_finishes(hubspot_sandbox: SandboxServer, tmp_path: Path) -> None:
    with running_redis() as redis:

        def kill() -> None:
            time.sleep(2.0)
            redis.stop()

        results = _run_processes(hubspot_sandbox, tmp_path, redis.url, n=3, each=2_000, kill=kill)
    assert hubspot_sandbox.stats()["events"] == 6_000
    assert [r["store_warnings"] for r, _ in results] == [1, 1, 1]  # one warning per task
    assert all(r["failed"] in (0, None) for r, _ in results)
    assert all(PASSWORD not in text for _, text in results)


def test_store_unreachable_at_start_one_warning(
    hubspot_sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"  # nobody listens there
    config = ClientConfig(base_url=hubspot_sandbox.url, max_requests_per_10s=1_000, budget_store=url)
    assert PASSWORD not in repr(config)
    with (
        caplog.at_level(logging.INFO),
        HubSpotClient(config, StaticTokenAuth(hubspot_sandbox.token)) as client,
    ):
        assert client.budget_gate is not None
        for i in range(20):
            client.upsert_events(
                [{"externalAccountId": "acme", "externalEventId": f"e{i}", "eventName": "x"}]
            )
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "redis://***@127.0.0.1" in warnings[0].getMessage()
    assert PASSWORD not in caplog.text


def test_a_url_of_another_scheme_is_refused_without_its_password() -> None:
    with pytest.raises(ValueError, match="redis://, rediss:// or unix://") as info:
        ClientConfig(budget_store=f"http://user:{PASSWORD}@cache:6379/0")
    assert PASSWORD not in str(info.value)
