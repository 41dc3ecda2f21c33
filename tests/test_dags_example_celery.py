"""The scale-out example under the CeleryExecutor: Redis broker, PostgreSQL metadata DB (``slow``).

Starts a private ``redis-server`` and a private PostgreSQL cluster (Debian packages; ``make
test-slow`` installs them with apt-get when missing, and the ``celery`` extra), then ``airflow
api-server``, ``dag-processor``, ``scheduler`` with ``CeleryExecutor`` and two ``airflow celery
worker`` processes of two slots each; backfills one day of ``hubspot_marketing_events_scale_out``
(4 mapped partitions, each configured with the whole app budget; the connection's ``budget_store``
extra names the Celery broker's Redis, so every partition of both workers takes its slot in one
rolling window kept there) and checks: the run succeeds, the partitions ran on both workers and
asked the store (Redis counts the budget script's calls), no rolling window of the sandbox's
request log holds more requests than the budget (429s included), under 1 % 429s, and every event is
in the sandbox once.
Everything started here is stopped here.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dags_example import warehouse
from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer
from tests._airflow_procs import (
    assert_run_succeeded,
    backfill,
    free_port,
    run_airflow,
    start_daemon,
    stop_daemons,
    wait_for_port,
    wait_for_run_state,
)
from tests.test_dags_example_scheduler import DAG_ID, DAY, REPO, _max_in_window, _partition_spans

RATE_LIMIT = 12  # the app's budget per window, as HubSpot counts it
RATE_WINDOW_S = 2.0
EVENTS = 1500
DEADLINE_S = 600.0
#: Debian's PostgreSQL binaries (the newest installed major version).
PG_BIN = max(
    Path("/usr/lib/postgresql").glob("*/bin"),
    default=Path("/usr/lib/postgresql/15/bin"),
    key=lambda p: int(p.parent.name),
)


def _need(path: str) -> str:
    found = shutil.which(path) or (str(PG_BIN / path) if (PG_BIN / path).exists() else None)
    if found is None:
        pytest.fail(f"{path} is missing: run `make test-slow` (it installs redis-server and postgresql)")
    return found


@pytest.fixture
def redis_url() -> Iterator[str]:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="hubspot-redis-"))
    proc = subprocess.Popen(
        [
            _need("redis-server"),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, time.monotonic() + 30)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def _as_postgres(*args: str) -> list[str]:
    # PostgreSQL refuses to run as root; the Debian package creates the ``postgres`` user.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="hubspot-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(data, user.pw_uid, user.pw_gid)
    initdb, pg_ctl = _need("initdb"), str(PG_BIN / "pg_ctl")
    subprocess.run(
        _as_postgres(initdb, "-D", str(data / "db"), "-U", "airflow", "--auth=trust"),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    subprocess.run(
        _as_postgres(
            pg_ctl, "-D", str(data / "db"), "-o", options, "-l", str(data / "pg.log"), "-w", "start"
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "airflow"
            ),
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"
    finally:
        subprocess.run(
            _as_postgres(pg_ctl, "-D", str(data / "db"), "-m", "fast", "stop"), capture_output=True
        )
        shutil.rmtree(data, ignore_errors=True)


def _run_state(url: str) -> str | None:
    import psycopg2

    try:
        with psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql")) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT state FROM dag_run WHERE dag_id = %s AND run_type = 'backfill' "
                "ORDER BY id DESC LIMIT 1",
                (DAG_ID,),
            )
            row = cur.fetchone()
    except psycopg2.Error:
        return None
    return str(row[0]) if row else None


def _env(
    tmp: Path, sandbox: SandboxServer, database: Path, api_port: int, pg: str, redis: str
) -> dict[str, str]:
    home = tmp / "airflow"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    }
    # every partition is configured with the whole budget and shares it through the broker's Redis
    extra = {"max_requests_per_10s": RATE_LIMIT, "rate_window_s": RATE_WINDOW_S, "budget_store": redis}
    hubspot = {"conn_type": "hubspot", "host": sandbox.url, "password": sandbox.token, "extra": extra}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_example"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg,
            "AIRFLOW__CELERY__BROKER_URL": redis,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + pg,  # the driver named: not psycopg 3
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": "celery-test-secret-not-a-real-one",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_CONN_HUBSPOT_PARTITIONED": json.dumps(hubspot),
            "AIRFLOW_CONN_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(database)}),
            "AIRFLOW_VAR_HUBSPOT_EVENTS_REPORTS_DIR": str(tmp / "reports"),
        }
    )
    return env


def _store_calls(redis_url: str) -> int:
    """Calls of the budget store's script Redis has answered (``EVALSHA``; the broker uses none)."""
    import redis as redis_py

    with redis_py.Redis.from_url(redis_url) as client:
        stats = client.info("commandstats")
    return sum(int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval"))


def _workers_of_partitions(tmp: Path) -> dict[str, set[int]]:
    """Map index of each ``upsert_marketing_events`` workload, by the worker that executed it."""
    found: dict[str, set[int]] = {}
    for name in ("worker1", "worker2"):
        text = (tmp / f"{name}.log").read_text(errors="replace")
        indexes = set()
        for line in text.splitlines():
            # the backfill's partitions (the scheduler also starts today's run: no rows in it)
            ours = f"dag_id='{DAG_ID}'" in line and "run_id='backfill__" in line
            if "Executing workload" in line and ours and "task_id='upsert_marketing_events'" in line:
                match = re.search(r"task_id='upsert_marketing_events'.*?map_index=(\d+)", line)
                if match:
                    indexes.add(int(match.group(1)))
        found[name] = indexes
    return found


def _sharers_of_partitions(tmp: Path) -> dict[int, list[int]]:
    """The ``budget_sharers`` each backfill partition's task log reports, by map index."""
    found: dict[int, list[int]] = {}
    logs = tmp / "airflow" / "logs" / f"dag_id={DAG_ID}"
    for path in logs.glob("run_id=backfill__*/task_id=upsert_marketing_events/map_index=*/*.log"):
        index = int(path.parent.name.removeprefix("map_index="))
        text = path.read_text(errors="replace")
        found[index] = [int(n) for n in re.findall(r"rate budget with (\d+) mapped tasks", text)]
    return found


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_scale_out_on_celery_workers_holds_the_budget_and_upserts_every_event_once(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    config = SandboxConfig(rate_limit=RATE_LIMIT, rate_window_s=RATE_WINDOW_S, latency_s=(0.2, 0.4))
    database = warehouse.build_warehouse(tmp_path / "warehouse.db", count=EVENTS)
    with SandboxServer(config) as sandbox:
        env = _env(tmp_path, sandbox, database, free_port(), postgres_url, redis_url)
        log = tmp_path / "airflow.log"
        assert run_airflow("db", "migrate", env=env, log=log).returncode == 0, log.read_text()[-3000:]
        pool = ("pools", "set", "hubspot_api", "4", "HubSpot app rate budget")
        assert run_airflow(*pool, env=env, log=log).returncode == 0
        daemons: list[subprocess.Popen[bytes]] = []
        state = None
        try:
            daemons.append(start_daemon(["api-server"], env, tmp_path / "api-server.log"))
            daemons.append(start_daemon(["dag-processor"], env, tmp_path / "dag-processor.log"))
            for i in (1, 2):
                worker = ["celery", "worker", "--concurrency", "2", "--celery-hostname", f"worker{i}@%h"]
                daemons.append(start_daemon([*worker, "--skip-serve-logs"], env, tmp_path / f"worker{i}.log"))
            wait_for_port(int(env["AIRFLOW__API__PORT"]), deadline=time.monotonic() + 240)
            daemons.append(start_daemon(["scheduler"], env, tmp_path / "scheduler.log"))
            deadline = time.monotonic() + DEADLINE_S
            backfill(DAG_ID, DAY, env=env, log=log, deadline=deadline)
            state = wait_for_run_state(lambda: _run_state(postgres_url), deadline, every=3)
        finally:
            stop_daemons(daemons, timeout=60)
        assert_run_succeeded(state, tmp_path / "scheduler.log")
        store_calls = _store_calls(redis_url)

        expected = warehouse.expected_events(database)
        held = [(e["externalAccountId"], e["externalEventId"]) for e in sandbox.events()]
        assert len(held) == len(set(held)) == len(expected)  # every event exactly once
        assert set(held) == set(expected)
        records = sandbox.requests()
        upserts = [r for r in records if r.path.endswith("/events/upsert")]
        refused = [r for r in upserts if r.status == 429]
        assert len(refused) <= 0.01 * len(upserts), f"{len(refused)} 429s of {len(upserts)}"
        # no rolling window of the log holds more requests than the app's budget, 429s included:
        # the store admitted each one
        window_max = _max_in_window([r.at for r in records], RATE_WINDOW_S)
        assert window_max <= RATE_LIMIT
        assert store_calls >= len(records)  # every request asked the store (a WAIT asks again)
        assert sorted(_partition_spans(records)) == [0, 1, 2, 3]
        by_worker = _workers_of_partitions(tmp_path)
        assert by_worker["worker1"], by_worker  # the partitions ran on both workers
        assert by_worker["worker2"], by_worker
        assert by_worker["worker1"] | by_worker["worker2"] == {0, 1, 2, 3}
        assert not by_worker["worker1"] & by_worker["worker2"]  # each partition ran once
        # each partition's limiter knew it shared the budget with the 4 (detected from the map)
        assert _sharers_of_partitions(tmp_path) == {i: [4] for i in range(4)}
        print(  # the figures the report quotes (pytest -rP shows them)
            f"celery: {len(upserts)} upserts of {len(records)} requests, {len(refused)} 429s "
            f"({len(refused) / len(upserts):.2%}), max {window_max} requests in a {RATE_WINDOW_S:g} s "
            f"window (budget {RATE_LIMIT}), {store_calls} store calls, workers {by_worker}"
        )
