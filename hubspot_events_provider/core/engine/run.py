"""The write pipeline: rows in, every row out as upserted, unchanged, rejected, failed or superseded.

::

    rows ─> RowRef ─> validate (kind.mapper) ──invalid──> report.record_invalid
                          │ valid (key, payload, kind.route -> group, phase)
                          v
                      RowSpool (on disk; last row of each key wins) ──older──> report.record_superseded
                          │ winners by phase, group, input order
                          v
                      hooks.unchanged? ──yes──> report.record_unchanged
                          │ no
                          v
                      batches (one group, <= batch_size) ─> max_in_flight threads: send_batch(kind)
                          │ per-row answers (attributed, split, or refused as a request)
                          v
                      report.record_written / record_refused  (+ hooks.confirmed / hooks.refused)

Pass 1 (read and validate) raises every input error (a bad line, unmapped keys, an empty input)
before anything is sent, unless the run *overlaps* reading with sending (:func:`run_writes`; the
default for kinds that allow it), where only what the first row shows (a CSV header, a SQL cursor's
columns) is sure to come first.
Pass 2 sends through one shared client, whose limiter keeps the app inside HubSpot's rolling window.
Transient failures that outlast the client's retries propagate and fail the run; what was already
decided is in the report files, and a rerun is safe because every kind the pipeline carries is
idempotent by key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from hubspot_events_provider.core.engine.contract import RowHooks, WriteKind
from hubspot_events_provider.core.engine.options import (
    MAX_BATCH_SIZE,
    Logger,
    RunContext,
    RunExtras,
    WriteOptions,
)
from hubspot_events_provider.core.engine.overlap import can_overlap, run_overlapped
from hubspot_events_provider.core.engine.reading import read_and_validate
from hubspot_events_provider.core.engine.report import WriteReport
from hubspot_events_provider.core.engine.sending import send_all
from hubspot_events_provider.core.engine.spool import RowSpool
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.rows.identity import WriteItem
from hubspot_events_provider.core.rows.sources import SourceRow

# MAX_BATCH_SIZE, Logger, RunExtras and WriteOptions are defined in .options; the kinds and the
# operators import them from here.
__all__ = ["MAX_BATCH_SIZE", "Logger", "RunExtras", "WriteOptions", "run_writes"]

_log = logging.getLogger(__name__)
_NO_HOOKS = RowHooks()


def run_writes(
    rows: Iterable[SourceRow],
    kind: WriteKind,
    client: HubSpotApi | None,
    report: WriteReport,
    *,
    options: WriteOptions,
    spool_dir: str | Path | None = None,
    log: Logger | None = None,
    stats: Callable[[], Mapping[str, int]] | None = None,
    headroom: Callable[[], str | None] | None = None,
    hooks: RowHooks | None = None,
) -> WriteReport:
    """Write ``rows`` as ``kind`` says and account for every one of them in ``report``.

    :param rows: source rows (see :mod:`~hubspot_events_provider.core.rows.sources`).
    :param kind: what is specific to this write (mapper, grouping, send call, answers).
    :param client: what ``kind.send`` sends through; may be ``None`` on a dry run.
    :param report: counts and writes the rejected/results files.
    :param options: batch size, concurrency, dry run...
    :param spool_dir: where the temporary spool lives (default: the system temp dir).
    :param log: logger for progress lines.
    :param stats: returns the client's ``requests``/``retries``/``rate_limited`` counters.
    :param headroom: returns a short text on the rate-limit budget left, for progress lines.
    :param hooks: a state store's callbacks (skip unchanged rows, learn confirmed/refused rows).
    :raises InputError: bad input, raised before anything is sent (when overlapping: before
        anything is sent if the first row shows it, as a CSV header or a SQL cursor's columns do;
        else as soon as it is read, the batches already sent accounted in ``report``).

    With ``options.overlap``, a kind whose ``overlap_sends`` is true (events) and no ``hooks``, full
    batches leave while the input is still read (see :mod:`.overlap`).
    """
    run = RunContext(kind, report, options, log or _log, hooks or _NO_HOOKS)
    report.start()
    with RowSpool(spool_dir) as spool:
        if client is not None and can_overlap(run):
            try:
                run_overlapped(rows, run, spool, client, headroom)
            finally:
                _finish(report, stats)
        else:
            _read_then_send(rows, run, spool, client, headroom, stats)
    return report


def _read_then_send(
    rows: Iterable[SourceRow],
    run: RunContext,
    spool: RowSpool,
    client: HubSpotApi | None,
    headroom: Callable[[], str | None] | None,
    stats: Callable[[], Mapping[str, int]] | None,
) -> None:
    """Pass 1 over the whole input, then pass 2 (nothing is sent before every row is read)."""
    report, options = run.report, run.options
    pending = _read_everything(rows, run, spool)
    if options.dry_run or pending == 0:
        if options.dry_run:
            report.record_would_send(_count_to_send(spool, run))
        report.finish()
        return
    if client is None:
        raise ValueError("a client is required unless dry_run is set")
    try:
        batches = spool.batch_count(options.batch_size)
        # the run's size lets the limiter skip its start probe on a short run
        client.expect_requests(batches)
        send_all(_to_send(spool.winners(), run), batches, pending, client, run, headroom)
    finally:
        _finish(report, stats)


def _read_everything(rows: Iterable[SourceRow], run: RunContext, spool: RowSpool) -> int:
    """Read, validate and de-duplicate every row; let the state store prepare; the winners' count."""
    report = run.report
    read_and_validate(rows, run, spool)
    for dup in spool.superseded():
        report.record_superseded(dup.ref, dup.replaced_by, dup.key)
    if run.hooks.prepare is not None:
        run.hooks.prepare(spool.winners)
    pending = spool.winner_count
    run.logger.info(
        "Read %d rows from %s: %d valid and unique, %d rejected by validation, "
        "%d superseded by a later duplicate.",
        report.total,
        run.options.source,
        pending,
        report.rejected,
        report.superseded,
    )
    return pending


def _finish(report: WriteReport, stats: Callable[[], Mapping[str, int]] | None) -> None:
    """Add the client's counters (when given) and close the report, whatever happened."""
    if stats is not None:
        report.add_client_stats(stats())
    report.finish()


def _to_send(winners: Iterable[WriteItem], run: RunContext) -> Iterator[WriteItem]:
    """The winners minus the rows a state store says HubSpot already holds (counted ``unchanged``)."""
    unchanged = run.hooks.unchanged
    if unchanged is None:
        yield from winners
        return
    for item in winners:
        if unchanged(item):
            run.report.record_unchanged(item.ref, item.key)
        else:
            yield item


def _count_to_send(spool: RowSpool, run: RunContext) -> int:
    if run.hooks.unchanged is None:
        return spool.winner_count
    return sum(1 for _ in _to_send(spool.winners(), run))
