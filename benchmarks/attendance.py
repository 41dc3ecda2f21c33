"""Attendance throughput as a fraction of HubSpot's ceiling, by the same method as events.

``python -m benchmarks.attendance [--quick]`` (or the ``attendance`` case of ``make bench``): a
sandbox process with the compressed rolling window and latency of :data:`benchmarks.run.FULL`,
webinars upserted first (not timed), then ``run_attendance`` through ``HubSpotClient`` in a fresh
process over a JSON Lines export of registrations (every contact), attendance with join/leave
times (60 %) and cancellations (10 %), new contacts by email. **participations/s** = participations
recorded / client wall time (read, validate, spool included); the ceiling is ``rate_limit x 100 /
window`` as for events (one request records at most 100 participations). Participations are
grouped by (event, state): a request is full when a group holds 100 or more rows, and the three
phases (register < attend < cancel) each end with a partial wave of requests.

The worker runs as ``python -m benchmarks.attendance --worker '<json>'`` (token via the
environment, as :mod:`benchmarks.worker` does).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.metrics import ceiling_events_per_s, summarise_log
from benchmarks.sandbox_proc import SandboxProcess
from benchmarks.worker import TOKEN_ENV

__all__ = ["ACCOUNT", "case", "generate", "main"]

ACCOUNT = "bench-zoom"
FIELD_MAP = {"webinar": "externalEventId", "action": "subscriberState", "at": "interactionDateTime"}
RESULTS = Path(__file__).resolve().parent / "results" / "attendance.json"


def _webinar(i: int) -> str:
    return f"w{i:04d}"


def generate(path: Path, n: int, webinars: int) -> int:
    """Write about ``n`` attendance rows for ``webinars`` webinars; return the rows written.

    Each contact registers; 60 % attend (with join and leave times), 10 % cancel.
    """
    rows = 0
    contact = 0
    with path.open("w", encoding="utf-8") as out:
        while rows < n:
            webinar = _webinar(contact % webinars)
            email = f"person{contact}@example.com"
            lines = [
                {
                    "webinar": webinar,
                    "action": "register",
                    "email": email,
                    "at": "2026-05-01T08:00:00Z",
                    "first_name": "P",
                    "company": "Acme",
                }
            ]
            if contact % 10 < 6:
                lines.append(
                    {
                        "webinar": webinar,
                        "action": "ATTENDED",
                        "email": email,
                        "at": "2026-05-02T10:00:00Z",
                        "joinedAt": "2026-05-02T10:00:00Z",
                        "leftAt": "2026-05-02T10:45:00Z",
                    }
                )
            elif contact % 10 == 9:
                lines.append(
                    {"webinar": webinar, "action": "cancel", "email": email, "at": "2026-05-01T09:00:00Z"}
                )
            for line in lines[: n - rows]:
                out.write(json.dumps(line) + "\n")
                rows += 1
            contact += 1
    return rows


def record_file(spec: dict[str, Any], token: str) -> dict[str, Any]:
    """The measured client: ``run_attendance`` over the file through our client (one process)."""
    from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport
    from hubspot_events_provider.core.engine.run import WriteOptions
    from hubspot_events_provider.core.http.auth import StaticTokenAuth
    from hubspot_events_provider.core.http.client import HubSpotClient
    from hubspot_events_provider.core.http.config import ClientConfig
    from hubspot_events_provider.core.kinds.attendance.kind import (
        ATTENDANCE_KEY_FIELDS,
        run_attendance,
    )
    from hubspot_events_provider.core.kinds.attendance.mapper import AttendanceMapper
    from hubspot_events_provider.core.rows.sources import rows_from_file

    path = Path(spec["path"])
    config = ClientConfig(
        base_url=spec["url"], max_requests_per_10s=spec["rate_limit"], rate_window_s=spec["window_s"]
    )
    mapper = AttendanceMapper(
        field_map=FIELD_MAP,
        defaults={"externalAccountId": ACCOUNT},
        contact_properties={"first_name": "firstname", "company": "company"},
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-att-") as tmp,
        HubSpotClient(config, StaticTokenAuth(token)) as client,
        (Path(tmp) / "rejected.jsonl").open("wb") as rejected,
    ):
        report = UpsertReport(rejected=JsonLinesWriter(rejected), key_fields=ATTENDANCE_KEY_FIELDS)
        started = time.perf_counter()
        run_attendance(
            rows_from_file(lambda: path.open("rb"), name=str(path)),
            mapper,
            client,
            report,
            options=WriteOptions(max_in_flight=spec["max_in_flight"], source=path.name),
            spool_dir=tmp,
            stats=client.stats.snapshot,
        )
        wall = time.perf_counter() - started
    summary = report.summary()
    keep = ("total", "upserted", "rejected", "failed", "superseded", "batches", "requests", "retries")
    return {
        **{k: summary.get(k) for k in keep},
        "client_rate_limited": summary.get("rate_limited"),
        "wall_s": round(wall, 3),
    }


def _upsert_webinars(url: str, token: str, webinars: int) -> None:
    from hubspot_events_provider.core.http.auth import StaticTokenAuth
    from hubspot_events_provider.core.http.client import HubSpotClient
    from hubspot_events_provider.core.http.config import ClientConfig

    events = [
        {
            "externalAccountId": ACCOUNT,
            "externalEventId": _webinar(i),
            "eventName": f"Webinar {i}",
            "eventOrganizer": "Acme",
            "startDateTime": "2026-05-02T10:00:00Z",
            "endDateTime": "2026-05-02T11:00:00Z",
        }
        for i in range(webinars)
    ]
    with HubSpotClient(
        ClientConfig(base_url=url, max_requests_per_10s=10_000), StaticTokenAuth(token)
    ) as client:
        for start in range(0, len(events), 100):
            client.upsert_events(events[start : start + 100])


def case(sb: SandboxProcess, data: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The attendance throughput case on a running benchmark sandbox (reset here).

    :param sb: the sandbox process.
    :param data: scratch directory.
    :param settings: ``rate_limit``, ``window_s``, ``max_in_flight``, ``throughput_n``.
    """
    n, webinars = settings["throughput_n"], max(1, settings["throughput_n"] // 1000)
    path = data / f"attendance-{n}.jsonl"
    rows = generate(path, n, webinars)
    sb.reset()
    _upsert_webinars(sb.url, sb.token, webinars)
    spec = {
        "path": str(path),
        "url": sb.url,
        "rate_limit": settings["rate_limit"],
        "window_s": settings["window_s"],
        "max_in_flight": settings["max_in_flight"],
    }
    env = {**os.environ, TOKEN_ENV: sb.token}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.attendance", "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=1800,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    ceiling = ceiling_events_per_s(settings["rate_limit"], settings["window_s"])
    recorded = int(result.get("upserted") or 0)
    result.update(
        n=rows,
        webinars=webinars,
        max_in_flight=settings["max_in_flight"],
        participations_per_s=round(recorded / result["wall_s"], 1),
        ceiling_per_s=ceiling,
    )
    result["fraction_of_ceiling"] = round(result["participations_per_s"] / ceiling, 4)
    result["server"] = summarise_log(
        sb.requests(), settings["rate_limit"], settings["window_s"], paths=("/create", "/email-create")
    )
    stats = sb.stats()
    result["stored_participations"] = stats.get("participations")
    result["contacts_created"] = stats.get("contacts_created")
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the case alone (its own sandbox process) and write ``results/attendance.json``."""
    from benchmarks.run import FULL, QUICK

    parser = argparse.ArgumentParser(description="Attendance throughput benchmark.")
    parser.add_argument("--quick", action="store_true", help="5,000 rows instead of 20,000")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        sys.stdout.write(
            json.dumps(record_file(json.loads(args.worker), os.environ.get(TOKEN_ENV, ""))) + "\n"
        )
        return 0
    s = QUICK if args.quick else FULL
    sandbox_cfg = {"rate_limit": s["rate_limit"], "rate_window_s": s["window_s"], "latency_s": s["latency_s"]}
    with tempfile.TemporaryDirectory(prefix="hubspot-bench-att-") as tmp, SandboxProcess(sandbox_cfg) as sb:
        result = case(sb, Path(tmp), s)
    doc = {
        "command": "python -m benchmarks.attendance" + (" --quick" if args.quick else ""),
        "settings": {k: s[k] for k in ("rate_limit", "window_s", "latency_s", "max_in_flight")},
        "attendance": result,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
