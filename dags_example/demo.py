"""``make demo``: run the warehouse-to-HubSpot pipelines end to end, offline, in about a minute.

Steps: start the local HubSpot sandbox (a thread of this process), build a SQLite warehouse of a
few hundred marketing events and a Zoom-like webinar export under ``.demo/``, point a throw-away
Airflow home (SQLite metadata DB) at ``dags_example/``, run ``airflow db migrate``, ``airflow dags
test hubspot_marketing_events_sync 2025-06-02`` and ``airflow dags test hubspot_webinar_attendance``
as subprocesses, then print what happened: events upserted, participations recorded, rows rejected
and why, where the report files are, what the sandbox now holds.

No account and no network: every request goes to 127.0.0.1. ``.demo/`` is rebuilt on every run.

``python -m dags_example.demo --misspell`` (``make demo ARGS=--misspell``) runs the events DAG with
the custom property ``capacity`` misspelled ``capcity`` (environment ``HUBSPOT_EVENTS_DEMO_MISSPELL=1``,
read by the DAG file). HubSpot (and the sandbox) answers success and drops the unknown property, so
the upsert and the check stay green; the sensor's field-by-field read-back ends the run red and the
demo prints its message naming the property.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from dags_example import warehouse
from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer

REPO = Path(__file__).resolve().parent.parent
DEMO_DIR = Path(os.environ.get("HUBSPOT_EVENTS_DEMO_DIR") or REPO / ".demo").resolve()
"""The demo's working folder (rebuilt each run); ``HUBSPOT_EVENTS_DEMO_DIR`` moves it (tests do)."""
DAG_ID = "hubspot_marketing_events_sync"
ATTENDANCE_DAG_ID = "hubspot_webinar_attendance"
#: A manual run at this date covers the previous day, the day every demo row changed.
LOGICAL_DATE = "2025-06-02"
_TAIL_LINES = 60


#: The demo sandbox's read lag (seconds): HubSpot's is minutes.
DEMO_READ_LAG_S = 3.0


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def airflow_env(demo_dir: Path, sandbox: SandboxServer, database: Path) -> dict[str, str]:
    """The environment of the Airflow subprocesses: private home, SQLite DB, connections.

    :param demo_dir: the demo's working folder.
    :param sandbox: the running sandbox (its URL and token go into ``hubspot_default``).
    :param database: the SQLite warehouse file.
    """
    home = demo_dir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    }
    hubspot = {"conn_type": "hubspot", "host": sandbox.url, "password": sandbox.token}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_example"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW_CONN_HUBSPOT_DEFAULT": json.dumps(hubspot),
            "AIRFLOW_CONN_HUBSPOT_PARTITIONED": json.dumps(
                {**hubspot, "extra": {"max_requests_per_10s": 25}}
            ),
            "AIRFLOW_CONN_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(database)}),
            "AIRFLOW_VAR_HUBSPOT_EVENTS_REPORTS_DIR": str(demo_dir / "reports"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        }
    )
    return env


def run_airflow(args: list[str], env: dict[str, str], log: Path, *, check: bool = True) -> int:
    """Run ``airflow <args>``, output to ``log``; on failure print its tail and exit non-zero.

    :param args: CLI arguments.
    :param env: the environment.
    :param log: file that receives stdout and stderr.
    :param check: ``False`` returns the exit code instead (a run expected to end red).
    """
    airflow = Path(sys.executable).with_name("airflow")
    command = [str(airflow) if airflow.exists() else "airflow", *args]
    _say(f"$ airflow {' '.join(args)}   (log: {log})")
    with log.open("ab") as out:
        result = subprocess.run(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0 and check:
        lines = log.read_text(errors="replace").splitlines()[-_TAIL_LINES:]
        print("\n".join(lines), file=sys.stderr)
        _say(f"FAILED: airflow {' '.join(args)} exited with {result.returncode}; full log in {log}")
        raise SystemExit(result.returncode)
    return result.returncode


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def report(demo_dir: Path, sandbox: SandboxServer) -> str:
    """The short human report of the run.

    :param demo_dir: the demo's working folder.
    :param sandbox: the sandbox the DAG wrote to.
    """
    run_dirs = sorted((demo_dir / "reports" / DAG_ID).glob("*"))
    if not run_dirs:
        raise SystemExit(f"no report folder under {demo_dir / 'reports' / DAG_ID}")
    run_dir = run_dirs[-1]
    results = _read_jsonl(run_dir / "results.jsonl")
    rejected = _read_jsonl(run_dir / "rejected.jsonl")
    errors = [r for r in rejected if r["stage"] != "superseded"]
    superseded = [r for r in rejected if r["stage"] == "superseded"]
    events = sandbox.events()
    stats = sandbox.stats()
    by_type = Counter(str(e.get("eventType")) for e in events)
    with_props = sum(1 for e in events if e.get("customProperties"))
    lines = [
        "",
        "=== HubSpot marketing events demo ===",
        f"rows read from the warehouse: {len(results) + len(rejected)}",
        f"upserted into HubSpot:        {len(results)}",
        f"rejected (not sent):          {len(errors)}",
    ]
    for row in errors:
        source = row.get("row") or {}
        lines.append(
            f"  - row {row['position']} ({source.get('event_id')}): {row['category']}"
            f"{' on ' + row['field'] if row.get('field') else ''}: {row['message']}"
        )
    for row in superseded:
        event_id = row["row"].get("event_id")
        lines.append(f"superseded (a later row of the same event won): row {row['position']} ({event_id})")
    lines += [
        f"rejected file: {run_dir / 'rejected.jsonl'}",
        f"results file:  {run_dir / 'results.jsonl'}",
        f"sandbox now holds {len(events)} events ("
        + ", ".join(f"{n} {t.lower()}s" for t, n in sorted(by_type.items()))
        + f"; {with_props} with custom properties), after {stats.get('requests')} API requests",
    ]
    for event in sorted(events, key=lambda e: str(e["externalEventId"]))[:3]:
        props = {p["name"]: p["value"] for p in event.get("customProperties", [])}
        lines.append(
            f"  e.g. {event['externalEventId']}: {event['eventName']!r} {event.get('startDateTime')} "
            f"objectId={event['objectId']} {props or ''}"
        )
    return "\n".join(lines)


def attendance_report(demo_dir: Path, sandbox: SandboxServer) -> str:
    """The short human report of the attendance run.

    :param demo_dir: the demo's working folder.
    :param sandbox: the sandbox the DAG wrote to.
    """
    run_dirs = sorted((demo_dir / "reports" / ATTENDANCE_DAG_ID).glob("*"))
    if not run_dirs:
        raise SystemExit(f"no report folder under {demo_dir / 'reports' / ATTENDANCE_DAG_ID}")
    run_dir = run_dirs[-1]
    results = _read_jsonl(run_dir / "results.jsonl")
    rejected = _read_jsonl(run_dir / "rejected.jsonl")
    errors = [r for r in rejected if r["stage"] != "superseded"]
    superseded = [r for r in rejected if r["stage"] == "superseded"]
    created = [c for c in sandbox.contacts() if c["origin"] != "seed"]
    lines = [
        "",
        "=== HubSpot webinar attendance demo ===",
        f"rows read from the export:        {len(results) + len(rejected)}",
        f"participations recorded:          {len(results)}",
        f"not recorded (with the reason):   {len(errors)}",
    ]
    for row in errors:
        source = row.get("row") or {}
        who = source.get("email") or source.get("hubspot_contact_id")
        lines.append(f"  - row {source.get('row_id')} ({who}): {row['category']}: {row['message'][:120]}")
    lines += [
        f"superseded (a later row of the same webinar, contact and action won): {len(superseded)}",
        f"contacts created by HubSpot: {len(created)} (existing contacts left untouched)",
        f"rejected file: {run_dir / 'rejected.jsonl'}",
        f"results file:  {run_dir / 'results.jsonl'}",
    ]
    webinars = [e for e in sandbox.events() if e["externalAccountId"] == warehouse.ATTENDANCE_ACCOUNT_ID]
    for event in sorted(webinars, key=lambda e: str(e["externalEventId"])):
        held = sandbox.participations(external_event_id=event["externalEventId"])
        states = Counter(p["state"] for p in held)
        counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(states.items()))
        completed = "completed" if event.get("eventCompleted") else "not completed"
        lines.append(f"  webinar {event['externalEventId']} {event['eventName']!r} ({completed}): {counts}")
    return "\n".join(lines)


def _sensor_failure(log: Path) -> str | None:
    """The sensor's failure message in the Airflow log, if any (the read-back naming the field)."""
    for line in log.read_text(errors="replace").splitlines():
        if "HubSpot does not hold what was sent" in line:
            return line[line.index("HubSpot does not hold what was sent") :].strip()
    return None


def misspelled_run(sandbox: SandboxServer, env: dict[str, str], log: Path) -> int:
    """The events DAG with ``capacity`` misspelled: green upsert, red sensor naming the property.

    :param sandbox: the running sandbox.
    :param env: the Airflow environment.
    :param log: the Airflow log file.
    :returns: 0 when the sensor caught the misspelling.
    """
    _say("custom property 'capacity' misspelled 'capcity' (HUBSPOT_EVENTS_DEMO_MISSPELL=1)")
    run_airflow(
        ["dags", "test", DAG_ID, LOGICAL_DATE], {**env, "HUBSPOT_EVENTS_DEMO_MISSPELL": "1"}, log, check=False
    )
    print(report(DEMO_DIR, sandbox))
    dropped = sandbox.stats().get("dropped_custom_properties", 0)
    print(f"HubSpot answered success and silently dropped {dropped} custom property value(s).")
    caught = _sensor_failure(log)
    if caught is None:
        _say(f"FAILED: the sensor did not report the misspelled property; see {log}")
        return 1
    print(f"The sensor ended the run red: {caught}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 on success (with ``--misspell``: when the sensor caught the misspelling).

    :param argv: command-line arguments (default ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(prog="python -m dags_example.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--misspell",
        action="store_true",
        help="send the custom property 'capacity' as 'capcity': HubSpot drops it, the sensor fails naming it",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    # HubSpot makes a written event readable some minutes later (the sandbox's default read lag is
    # 120 s); the demo shortens it to a few seconds so it stays a two-minute run, while the sensors and
    # the completion still meet it.
    with SandboxServer(SandboxConfig(rate_limit=100, read_lag_s=DEMO_READ_LAG_S)) as sandbox:
        _say(f"HubSpot sandbox listening on {sandbox.url} (local, no account, no network)")
        database = warehouse.build_warehouse(DEMO_DIR / "warehouse.db")
        warehouse.build_attendance(database)
        _say(
            f"warehouse built: {database} ({len(warehouse.generate_rows())} event rows, "
            f"{len(warehouse.generate_attendance_rows())} webinar attendance rows)"
        )
        env = airflow_env(DEMO_DIR, sandbox, database)
        log = DEMO_DIR / "airflow.log"
        run_airflow(["db", "migrate"], env, log)
        if args.misspell:
            return misspelled_run(sandbox, env, log)
        run_airflow(["dags", "test", DAG_ID, LOGICAL_DATE], env, log)
        print(report(DEMO_DIR, sandbox))
        run_airflow(["dags", "test", ATTENDANCE_DAG_ID], env, log)
        print(attendance_report(DEMO_DIR, sandbox))
    _say(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
