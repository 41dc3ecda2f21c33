"""The report files of a row-writing run (rejected rows, results, dry-run payloads) and its
summary log lines.

Each file is JSON Lines, written aside and moved into place only when the run completes: a failing
run never truncates an earlier run's report, and keeps what it recorded in a partial file it names
(see :func:`hubspot_events_provider._storage.report_file`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubspot_events_provider._storage import default_report_path, report_file, resolve_output_path
from hubspot_events_provider.core.engine.contract import RowMapper
from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport, json_default
from hubspot_events_provider.core.rows.sources import SourceRow
from hubspot_events_provider.core.sync.run import SyncLogger as Logger

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

__all__ = ["SAMPLE_PAYLOADS", "ReportFiles", "capture_payloads", "log_payloads", "log_summary"]

#: Payloads a dry run shows in the task log.
SAMPLE_PAYLOADS = 3


@dataclass(frozen=True)
class ReportFiles:
    """Where a run's rejected, results and (dry runs) payloads files go, resolved."""

    rejected: str
    results: str | None
    payloads: str | None

    @classmethod
    def resolve(
        cls,
        context: Context,
        *,
        dag_folder: str | None,
        rejected_path: str | None,
        results_path: str | None,
        payloads_path: str | None,
    ) -> ReportFiles:
        """The rendered paths resolved (relative ones: the DAG folder); without ``rejected_path``,
        a per-task file under the system temp dir."""

        def resolved(value: str | None) -> str | None:
            return resolve_output_path(str(value), dag_folder=dag_folder) if value else None

        rejected = resolved(rejected_path) or default_report_path(context, "rejected")
        return cls(rejected, resolved(results_path), resolved(payloads_path))

    def open_report(
        self, stack: ExitStack, *, dry_run: bool, key_fields: tuple[str, ...], log: Logger
    ) -> UpsertReport:
        """The run's report, writing to the rejected and results files (closed by ``stack``)."""
        return UpsertReport(
            dry_run=dry_run,
            rejected=open_writer(stack, self.rejected, log),
            results=open_writer(stack, self.results, log) if self.results else None,
            rejected_path=self.rejected,
            results_path=self.results,
            key_fields=key_fields,
        )


def open_writer(stack: ExitStack, location: str, log: Logger) -> JsonLinesWriter:
    """A JSON Lines file, written aside and moved into place when ``stack`` closes without error."""

    def partial(target: str, kept: str) -> None:
        log.error(
            "The run failed: %s was left as it was (an earlier run's report, if any, is intact); "
            "what this run recorded before failing is in %s",
            target,
            kept,
        )

    return JsonLinesWriter(stack.enter_context(report_file(location, on_partial=partial)))


def capture_payloads(
    rows: Iterable[SourceRow], mapper: RowMapper, writer: JsonLinesWriter | None, sample: list[Any]
) -> Iterator[SourceRow]:
    """Pass rows through; write (and sample) the payload each valid row would be sent as (dry runs)."""
    for row in rows:
        if isinstance(row.data, Mapping):
            payload = mapper.map_row(row.data).payload
            if payload is not None:
                if writer is not None:
                    writer.write({"position": row.position, "line": row.line, "payload": payload})
                if len(sample) < SAMPLE_PAYLOADS:
                    sample.append(payload)
        yield row


def log_payloads(
    log: Logger, sample: list[Any], location: str | None, would_send: Any, *, unit: str, done: str
) -> None:
    """A dry run's log: where every payload is, and the first :data:`SAMPLE_PAYLOADS`."""
    if location:
        log.info("Dry run: every payload that would be sent is in %s", location)
    if not sample:
        log.info("Dry run: no valid row, so no payload would be sent.")
        return
    log.info("Dry run: %d %s would be %s; the first %d payload(s):", would_send or 0, unit, done, len(sample))
    for payload in sample:
        log.info("  %s", json.dumps(payload, ensure_ascii=False, default=json_default))


def log_summary(log: Logger, summary: Mapping[str, Any], *, label: str, done: str) -> None:
    """The summary line, and the rows not written (counts by category, samples, the file)."""
    log.info(
        "HubSpot %s summary: total=%s %s=%s rejected=%s failed=%s superseded=%s "
        "numErrors=%s error_rate=%.4f requests=%s retries=%s rate_limited=%s dry_run=%s",
        label,
        summary.get("total"),
        done,
        summary.get("upserted"),
        summary.get("rejected"),
        summary.get("failed"),
        summary.get("superseded"),
        summary.get("numErrors"),
        float(summary.get("error_rate") or 0.0),
        summary.get("requests"),
        summary.get("retries"),
        summary.get("rate_limited"),
        summary.get("dry_run"),
    )
    if summary.get("numErrors"):
        log.warning(
            "%s rows were not %s (by category: %s). Every one of them, with its reason, is in %s",
            summary.get("numErrors"),
            done,
            summary.get("errors_by_category"),
            summary.get("rejected_path"),
        )
        for sample in summary.get("sample_errors") or []:
            log.warning("  %s", sample)
