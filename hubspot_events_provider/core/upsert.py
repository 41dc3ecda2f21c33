"""Run an upsert: rows in, every row out as upserted, rejected, failed or superseded.

Pass 1 reads every source row, maps and validates it. Invalid rows go straight to the rejected
file; valid ones go to an on-disk spool that keeps the last row of each
``(externalAccountId, externalEventId)``. Every input error (a bad line, unmapped keys, an empty
input) surfaces here, before anything is sent.

Pass 2 sends the spooled events in batches, ``max_in_flight`` at a time through one shared client
(whose limiter keeps the app inside HubSpot's rolling window), and accounts for each row with
:func:`~hubspot_events_provider.core.batching.send_batch`. Transient failures that outlast the
client's retries propagate and fail the run; what was already decided is in the report files,
and a rerun is safe because upsert is idempotent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hubspot_events_provider.core.batching import BatchItem, BatchOutcome, UpsertSender, send_batch
from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.model import EventMapper, RowError
from hubspot_events_provider.core.report import UpsertReport
from hubspot_events_provider.core.sources import SourceRow
from hubspot_events_provider.core.spool import EventSpool

__all__ = ["MAX_BATCH_SIZE", "UpsertOptions", "run_upsert"]

MAX_BATCH_SIZE = 100
"""HubSpot's batch limit: "Batch operations are limited to 100 records at a time"."""

_log = logging.getLogger(__name__)


class Logger(Protocol):
    """What the runner needs from a logger (stdlib ``logging`` and Airflow's task logger fit)."""

    def debug(self, msg: Any, /, *args: Any) -> Any: ...

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def error(self, msg: Any, /, *args: Any) -> Any: ...


@dataclass(frozen=True)
class UpsertOptions:
    """How to run an upsert.

    :param batch_size: events per request, 1 to 100.
    :param max_in_flight: batches sent concurrently (threads sharing one client and limiter).
    :param dry_run: read, map, validate and report; send nothing.
    :param allow_empty: an input with no rows is a success instead of an error.
    :param progress_interval_s: seconds between progress log lines.
    :param source: a name for the input, used in error messages.
    """

    batch_size: int = MAX_BATCH_SIZE
    max_in_flight: int = 8
    dry_run: bool = False
    allow_empty: bool = False
    progress_interval_s: float = 10.0
    source: str = "input"

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, got {self.batch_size}")
        if not 1 <= self.max_in_flight <= 64:
            raise ValueError(f"max_in_flight must be between 1 and 64, got {self.max_in_flight}")
        if self.progress_interval_s <= 0:
            raise ValueError("progress_interval_s must be positive")


def run_upsert(
    rows: Iterable[SourceRow],
    mapper: EventMapper,
    client: UpsertSender | None,
    report: UpsertReport,
    *,
    options: UpsertOptions,
    spool_dir: str | Path | None = None,
    log: Logger | None = None,
    stats: Callable[[], Mapping[str, int]] | None = None,
    headroom: Callable[[], str | None] | None = None,
) -> UpsertReport:
    """Upsert ``rows`` and account for every one of them in ``report``.

    :param rows: source rows (see :mod:`~hubspot_events_provider.core.sources`).
    :param mapper: turns a source row into a HubSpot input object, or errors.
    :param client: sends batches; may be ``None`` on a dry run.
    :param report: counts and writes the rejected/results files.
    :param options: batch size, concurrency, dry run...
    :param spool_dir: where the temporary spool lives (default: the system temp dir).
    :param log: logger for progress lines.
    :param stats: returns the client's ``requests``/``retries``/``rate_limited`` counters.
    :param headroom: returns a short text on the rate-limit budget left, for progress lines.
    :raises InputError: bad input, raised before anything is sent.
    """
    logger = log or _log
    report.start()
    with EventSpool(spool_dir) as spool:
        _read_and_validate(rows, mapper, report, spool, options, logger)
        for dup in spool.superseded():
            report.supersede(dup.position, dup.line, dup.original, dup.replaced_by, dup.key)
        pending = spool.winner_count
        logger.info(
            "Read %d rows from %s: %d valid and unique, %d rejected by validation, "
            "%d superseded by a later duplicate.",
            report.total,
            options.source,
            pending,
            report.rejected,
            report.superseded,
        )
        if options.dry_run or pending == 0:
            report.would_upsert = pending if options.dry_run else 0
            report.finish()
            return report
        if client is None:
            raise ValueError("a client is required unless dry_run is set")
        try:
            _send_all(spool.winners(), pending, client, report, options, logger, headroom)
        finally:
            if stats is not None:
                report.add_client_stats(stats())
            report.finish()
    return report


def _read_and_validate(
    rows: Iterable[SourceRow],
    mapper: EventMapper,
    report: UpsertReport,
    spool: EventSpool,
    options: UpsertOptions,
    logger: Logger,
) -> None:
    unmapped: dict[str, int | None] = {}
    checked_key_sets: set[tuple[str, ...]] = set()
    for row in rows:
        report.total += 1
        if isinstance(row.data, Mapping):
            keys = tuple(row.data)
            if keys not in checked_key_sets:
                for key in mapper.unmapped_keys(keys):
                    unmapped.setdefault(key, row.line if row.line is not None else row.position)
                if len(checked_key_sets) < 10_000:
                    checked_key_sets.add(keys)
        if unmapped:
            continue  # keep reading to name every unmapped key, but map nothing
        mapped = mapper.map_row(row.data)
        if mapped.payload is None or mapped.key is None:
            errors = mapped.errors or [RowError(None, "INVALID_ROW", "row refused")]
            first = errors[0]
            message = "; ".join(e.message for e in errors)
            report.reject(
                row.position, row.line, row.data, "validation", first.category, message, first.field
            )
            continue
        spool.add(row.position, row.line, mapped.key, row.data, mapped.payload)
    if unmapped:
        first_line = min(v for v in unmapped.values() if v is not None) if unmapped else None
        raise mapper.unmapped_error(sorted(unmapped), source=options.source, line=first_line)
    if report.total == 0 and not options.allow_empty:
        raise InputError(
            "the input has no rows; nothing to upsert. Pass allow_empty=True when an empty input is normal.",
            source=options.source,
        )
    spool.finish()
    logger.debug("Spooled %d valid rows.", spool.winner_count)


def _batches(winners: Iterable[Any], size: int) -> Iterator[list[BatchItem]]:
    batch: list[BatchItem] = []
    for w in winners:
        batch.append(
            BatchItem(position=w.position, line=w.line, key=w.key, original=w.original, payload=w.payload)
        )
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _send_all(
    winners: Iterable[Any],
    pending: int,
    client: UpsertSender,
    report: UpsertReport,
    options: UpsertOptions,
    logger: Logger,
    headroom: Callable[[], str | None] | None,
) -> None:
    total_batches = -(-pending // options.batch_size)
    progress = _Progress(total_batches, pending, options.progress_interval_s, logger, headroom)
    batches = _batches(winners, options.batch_size)
    in_flight: set[Future[BatchOutcome]] = set()
    with ThreadPoolExecutor(max_workers=options.max_in_flight, thread_name_prefix="hubspot-upsert") as pool:
        try:
            for batch in batches:
                while len(in_flight) >= options.max_in_flight:
                    _collect(in_flight, report, progress)
                in_flight.add(pool.submit(send_batch, client, batch))
            while in_flight:
                _collect(in_flight, report, progress)
        except BaseException:
            for future in in_flight:
                future.cancel()
            # Batches already on the wire may have been applied: wait for them and account for
            # them, so the report files say exactly what happened before the failure.
            for future in wait(in_flight).done:
                if not future.cancelled() and future.exception() is None:
                    _record(future.result(), report, progress)
            logger.error(
                "Upsert stopped after %d of %d batches (%d events upserted, %d failed). "
                "Re-running is safe: upsert is idempotent by external ids.",
                progress.batches_done,
                total_batches,
                report.upserted,
                report.failed,
            )
            raise
    progress.finish()


def _collect(in_flight: set[Future[BatchOutcome]], report: UpsertReport, progress: _Progress) -> None:
    """Wait for at least one batch, record every finished one, re-raise the first failure.

    Finished futures leave ``in_flight`` (in place) before anything is raised, so the caller's
    clean-up never records a batch twice.
    """
    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
    in_flight.difference_update(done)
    failure: BaseException | None = None
    for future in done:
        exc = future.exception()
        if exc is not None:
            failure = failure or exc
            continue
        _record(future.result(), report, progress)
    if failure is not None:
        raise failure


def _record(outcome: BatchOutcome, report: UpsertReport, progress: _Progress) -> None:
    for item, object_id in outcome.upserted:
        report.upsert(item.position, item.key, object_id)
    for failure in outcome.failed:
        item = failure.item
        report.reject(
            item.position,
            item.line,
            item.original,
            "hubspot",
            failure.category,
            failure.message,
            failure.field,
        )
    report.batches += 1
    report.splits += outcome.splits
    progress.batch_done(len(outcome.upserted) + len(outcome.failed))


class _Progress:
    """Logs batches done / total, events per second, rate-limit headroom and ETA."""

    def __init__(
        self,
        total_batches: int,
        total_events: int,
        interval_s: float,
        logger: Logger,
        headroom: Callable[[], str | None] | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total_batches = total_batches
        self.total_events = total_events
        self.batches_done = 0
        self.events_done = 0
        self._interval = interval_s
        self._log = logger
        self._headroom = headroom
        self._clock = clock
        self._start = clock()
        self._last = self._start

    def batch_done(self, events: int) -> None:
        self.batches_done += 1
        self.events_done += events
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            self._emit(now)

    def finish(self) -> None:
        self._emit(self._clock(), final=True)

    def _emit(self, now: float, *, final: bool = False) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.events_done / elapsed
        left = self.total_events - self.events_done
        eta = f"{left / rate:.0f} s" if rate > 0 and left > 0 else "0 s"
        headroom = self._headroom() if self._headroom else None
        self._log.info(
            "%s %d/%d batches, %d/%d events, %.1f events/s%s, ETA %s.",
            "Sent" if final else "Progress:",
            self.batches_done,
            self.total_batches,
            self.events_done,
            self.total_events,
            rate,
            f", rate-limit headroom {headroom}" if headroom else "",
            eta,
        )
