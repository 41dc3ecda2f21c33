"""Our side of the benchmarks: the real runner over HTTP, the CPU-only pipeline, and dry runs.

* :func:`upsert_file`: ``run_upsert`` from a JSONL file through ``HubSpotClient`` (the same path the
  operator takes, without Airflow).
* :func:`cpu_pipeline`: read + map + validate + serialise (``json.dumps`` of each payload), no
  HTTP and no spool: the client's CPU cost per event, for JSONL, CSV and SQL (SQLite cursor).
* :func:`dry_run`: ``run_upsert(dry_run=True)`` over a file (read, map, validate, spool, dedup),
  with the process's peak RSS; run it in a fresh process per size.
"""

from __future__ import annotations

import logging
import os
import resource
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from benchmarks.datagen import CUSTOM_PROPERTIES, FIELD_MAP
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.jsoncodec import encode_payload
from hubspot_events_provider.core.rows.sources import SourceRow, rows_from_cursor, rows_from_file

__all__ = ["await_start", "cpu_pipeline", "dry_run", "make_mapper", "peak_rss_mb", "upsert_file"]


def make_mapper() -> EventMapper:
    """The mapper a user would configure for :mod:`benchmarks.datagen` rows."""
    return EventMapper(field_map=FIELD_MAP, custom_properties=list(CUSTOM_PROPERTIES), timezone="UTC")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    Reads ``VmHWM`` from ``/proc/self/status`` (reset by ``exec``). ``ru_maxrss`` is the fallback
    off Linux only: on Linux it keeps the parent's peak across fork + exec, so a worker spawned by
    a big parent would report the parent's memory.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _file_rows(path: Path) -> Iterator[SourceRow]:
    def opener() -> IO[bytes]:
        return path.open("rb")

    return rows_from_file(opener, name=str(path))


def _sql_rows(path: Path) -> Iterator[SourceRow]:
    con = sqlite3.connect(path)
    try:
        cursor = con.cursor()
        cursor.execute("SELECT * FROM events")
        yield from rows_from_cursor(cursor, source="sql", fetch_size=1000)
    finally:
        con.close()


def _report(tmp: Path, dry_run: bool) -> tuple[Any, IO[str]]:
    from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport

    fh = (tmp / "rejected.jsonl").open("w", encoding="utf-8")
    report = UpsertReport(
        dry_run=dry_run,
        rejected=JsonLinesWriter(fh),
        results=None,
        rejected_path=str(fh.name),
        results_path=None,
    )
    return report, fh


def upsert_file(
    path: Path,
    url: str,
    token: str,
    *,
    rate_limit: int,
    window_s: float,
    max_in_flight: int,
    overlap: bool = True,
    sharers: int | None = None,
    budget_store: str | None = None,
    tuning: dict[str, float] | None = None,
    start_signal: str | None = None,
) -> dict[str, Any]:
    """Upsert a JSONL file into the sandbox with our runner and client.

    :param path: JSONL file of :mod:`benchmarks.datagen` rows.
    :param url: sandbox base URL.
    :param token: sandbox token (never written anywhere).
    :param rate_limit: the app's budget per window, as a user would configure it.
    :param window_s: window length (1 s in the compressed benchmark).
    :param max_in_flight: concurrent batches.
    :param sharers: tell the limiter how many processes share the budget (``None``: unknown).
    :param budget_store: a Redis URL: the processes share the budget through it (``budget_store``).
    :param tuning: :class:`LimiterTuning` fields that differ from the default (the previous law,
        side by side with the current one in the same run); ``None``: the default limiter.
    :param overlap: send while reading (``UpsertOptions.overlap``); ``False`` reads everything first.
    :param start_signal: a directory: the process says it is ready there and starts its clock and
        its run only when the ``go`` file appears (:func:`await_start`), so processes started
        together are measured from one common start; ``None``: start at once.
    :returns: ``wall_s`` and the run summary (counts, requests, retries, rate_limited).
    """
    from hubspot_events_provider.core.http.auth import StaticTokenAuth
    from hubspot_events_provider.core.http.client import HubSpotClient
    from hubspot_events_provider.core.http.config import ClientConfig
    from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert

    config = ClientConfig(
        base_url=url, max_requests_per_10s=rate_limit, rate_window_s=window_s, budget_store=budget_store
    )
    from hubspot_events_provider.core.http.limiter import RollingWindowLimiter
    from hubspot_events_provider.core.http.limiter_law import LimiterTuning

    limiter = (
        RollingWindowLimiter(rate_limit, window_s, sharers=sharers, tuning=LimiterTuning(**(tuning or {})))
        if sharers or tuning
        else None
    )
    client = HubSpotClient(config, StaticTokenAuth(token), limiter=limiter)
    options = UpsertOptions(max_in_flight=max_in_flight, source=path.name, overlap=overlap)
    warnings = _WarningCount()
    logging.getLogger("hubspot_events_provider.core.http.store_gate").addHandler(warnings)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        report, fh = _report(Path(tmp), dry_run=False)
        if start_signal is not None:
            await_start(Path(start_signal))
        started = time.perf_counter()
        try:
            run_upsert(
                _file_rows(path),
                make_mapper(),
                client,
                report,
                options=options,
                spool_dir=tmp,
                stats=client.stats.snapshot,
            )
        finally:
            wall = time.perf_counter() - started
            fh.close()
            client.close()
    summary = report.summary()
    keep = ("total", "upserted", "rejected", "failed", "superseded", "batches", "requests", "retries")
    out: dict[str, Any] = {k: summary.get(k) for k in keep}
    out["client_rate_limited"] = summary.get("rate_limited")
    out["wall_s"] = round(wall, 3)
    out["store_warnings"] = warnings.count
    return out


#: The file whose creation starts every waiting process (:func:`await_start`).
GO_FILE = "go"


def await_start(signal_dir: Path, poll_s: float = 0.002) -> None:
    """Say this process is ready (``ready-<pid>`` in ``signal_dir``), then wait for ``go``.

    The parent creates ``go`` once every process is ready: imports, input and client set-up are
    done before anyone's clock starts, so each ``wall_s`` is measured from the same instant (up to
    the poll interval) and slowest/fastest compares runs, not process start-up times.
    """
    (signal_dir / f"ready-{os.getpid()}").touch()
    go = signal_dir / GO_FILE
    while not go.exists():
        time.sleep(poll_s)


class _WarningCount(logging.Handler):
    """Counts the warnings of the shared budget store (an outage is one warning per task)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def cpu_pipeline(source: str, path: Path) -> dict[str, Any]:
    """Read + map + validate + serialise every row, with no HTTP and no spool.

    :param source: ``jsonl``, ``csv`` or ``sql``.
    :param path: the data file (a SQLite database for ``sql``).
    :returns: rows, valid rows, wall and CPU seconds, events per wall and per CPU second.
    """
    mapper = make_mapper()
    rows = _sql_rows(path) if source == "sql" else _file_rows(path)
    n = valid = 0
    encode = encode_payload  # what the pipeline does to each valid payload (the spool's encoder)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for row in rows:
        n += 1
        mapped = mapper.map_row(row.data)
        if mapped.payload is not None and not mapped.errors:
            valid += 1
            encode(mapped.payload)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "source": source,
        "rows": n,
        "valid": valid,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "events_per_wall_s": round(n / wall, 1),
        "events_per_cpu_s": round(n / cpu, 1),
    }


def dry_run(path: Path) -> dict[str, Any]:
    """``run_upsert(dry_run=True)`` over a JSONL file; report time and this process's peak RSS.

    :param path: JSONL file.
    """
    from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert

    rss_before = peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        report, fh = _report(Path(tmp), dry_run=True)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        try:
            run_upsert(
                _file_rows(path),
                make_mapper(),
                None,
                report,
                options=UpsertOptions(dry_run=True, source=path.name),
                spool_dir=tmp,
            )
        finally:
            fh.close()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    summary = report.summary()
    return {
        "rows": summary.get("total"),
        "would_upsert": summary.get("would_upsert"),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "events_per_cpu_s": round((summary.get("total") or 0) / cpu, 1) if cpu > 0 else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_run_mb": round(rss_before, 1),
        "file_mb": round(os.path.getsize(path) / 1e6, 1),
    }
