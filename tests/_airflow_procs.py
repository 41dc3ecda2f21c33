"""Airflow processes for the tests that run a real scheduler, Celery workers or a triggerer: the
``airflow`` CLI of this venv, daemons in their own process group, and stopping them all.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = [
    "AIRFLOW",
    "assert_run_succeeded",
    "backfill",
    "free_port",
    "local_executor_env",
    "run_airflow",
    "start_daemon",
    "stop_daemons",
    "wait_for_port",
    "wait_for_run_state",
]

#: The ``airflow`` command next to this Python.
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def local_executor_env(home: Path, *, dags: Path, api_port: int, parallelism: int) -> dict[str, str]:
    """The environment of ``airflow api-server``, ``dag-processor`` and ``scheduler`` with the
    LocalExecutor on a private SQLite home (created), without the caller's Airflow settings,
    connections or variables."""
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": "local-executor-test-secret-not-a-real-one",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        }
    )
    return env


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_airflow(*args: str, env: dict[str, str], log: Path) -> subprocess.CompletedProcess[bytes]:
    """Run one ``airflow`` command to its end (at most 3 minutes), its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.run(
            [AIRFLOW, *args], env=env, stdout=out, stderr=subprocess.STDOUT, timeout=180, check=False
        )


def start_daemon(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``airflow <command>`` in its own session (so stopping it stops its children too)."""
    return subprocess.Popen(
        [AIRFLOW, *command], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_daemons(daemons: Iterable[subprocess.Popen[bytes]], *, timeout: float) -> None:
    """SIGTERM every daemon's process group, then SIGKILL those not gone within ``timeout`` s each."""
    procs = list(daemons)
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def wait_for_port(port: int, deadline: float) -> None:
    """Wait until something listens on loopback ``port`` (the api-server), until ``deadline``."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"airflow api-server did not listen on {port}")


def wait_for_run_state(read: Callable[[], str | None], deadline: float, *, every: float) -> str | None:
    """Poll ``read()`` (a DAG run's state) every ``every`` s until it ends or ``deadline`` passes;
    return the last state read."""
    state = None
    while time.monotonic() < deadline:
        state = read()
        if state in ("success", "failed"):
            break
        time.sleep(every)
    return state


def backfill(dag_id: str, day: str, *, env: dict[str, str], log: Path, deadline: float) -> None:
    """Create a one-day backfill of ``dag_id``, retrying until the dag-processor has parsed it.

    :raises AssertionError: not created by ``deadline`` (with the CLI's last output).
    """
    args = ("backfill", "create", "--dag-id", dag_id, "--from-date", day, "--to-date", day)
    while time.monotonic() < deadline:
        if run_airflow(*args, env=env, log=log).returncode == 0:
            return
        time.sleep(5)
    raise AssertionError(log.read_text()[-3000:])


def assert_run_succeeded(state: str | None, scheduler_log: Path) -> None:
    """Fail with the scheduler log's tail unless the run's ``state`` is ``success``."""
    tail = scheduler_log.read_text(errors="replace")[-4000:]
    assert state == "success", f"run state {state!r}\n{tail}"
