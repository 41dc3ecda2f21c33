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
                      report.record_upserted / record_refused  (+ hooks.confirmed / hooks.refused)

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
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypedDict

from hubspot_events_provider.core.engine.batching import BatchOutcome, context_value, send_batch
from hubspot_events_provider.core.engine.contract import RowHooks, WriteKind
from hubspot_events_provider.core.engine.report import UpsertReport
from hubspot_events_provider.core.engine.spool import RowSpool
from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.rows.identity import RowRef, WriteItem
from hubspot_events_provider.core.rows.sources import SourceRow

__all__ = ["MAX_BATCH_SIZE", "Logger", "RunExtras", "WriteOptions", "event_key_from_context", "run_writes"]

MAX_BATCH_SIZE = 100
"""HubSpot's batch limit: "Batch operations are limited to 100 records at a time"."""

_log = logging.getLogger(__name__)
_NO_HOOKS = RowHooks()


class Logger(Protocol):
    """What the pipeline needs from a logger (stdlib ``logging`` and Airflow's task logger fit)."""

    def debug(self, msg: Any, /, *args: Any) -> Any: ...

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def error(self, msg: Any, /, *args: Any) -> Any: ...


@dataclass(frozen=True)
class WriteOptions:
    """How to run a write.

    :param batch_size: rows per request, 1 to 100.
    :param max_in_flight: requests sent concurrently (threads sharing one client and limiter).
    :param dry_run: read, map, validate and report; send nothing.
    :param allow_empty: an input with no rows is a success instead of an error.
    :param progress_interval_s: seconds between progress log lines.
    :param source: a name for the input, used in error messages and carried by every row.
    :param overlap: send full batches while the input is still being read, when the kind allows it
        (``overlap_sends``: events), no state hooks are given and it is not a dry run (see
        :func:`run_writes`); the default. ``False`` reads and validates the whole input before the
        first request.
    :param overlap_hold: when overlapping, full batches read while the first one is unanswered
        wait for the pass after reading (see :class:`_Stream`); ``False`` sends each at once.
    """

    batch_size: int = MAX_BATCH_SIZE
    max_in_flight: int = 8
    dry_run: bool = False
    allow_empty: bool = False
    progress_interval_s: float = 10.0
    source: str = "input"
    overlap: bool = True
    overlap_hold: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, got {self.batch_size}")
        if not 1 <= self.max_in_flight <= 64:
            raise ValueError(f"max_in_flight must be between 1 and 64, got {self.max_in_flight}")
        if self.progress_interval_s <= 0:
            raise ValueError("progress_interval_s must be positive")


class RunExtras(TypedDict, total=False):
    """The optional keyword arguments every ``run_*`` wrapper passes through to :func:`run_writes`
    (one list, so ``run_upsert``, ``run_attendance`` and ``run_delete`` cannot drift apart)."""

    spool_dir: str | Path | None
    log: Logger | None
    stats: Callable[[], Mapping[str, int]] | None
    headroom: Callable[[], str | None] | None
    hooks: RowHooks | None


def event_key_from_context(context: Mapping[str, Any]) -> tuple[str, str] | None:
    """An event's key (``externalAccountId``, ``externalEventId``) named by an error's context
    (the events and delete kinds' ``key_from_context``)."""
    account = context_value(context, "externalAccountId")
    event = context_value(context, "externalEventId")
    return (account, event) if account is not None and event is not None else None


@dataclass(frozen=True)
class _Run:
    """What every step of one run shares."""

    kind: WriteKind[Any]
    report: UpsertReport
    options: WriteOptions
    logger: Logger
    hooks: RowHooks


def run_writes(
    rows: Iterable[SourceRow],
    kind: WriteKind[Any],
    client: Any,
    report: UpsertReport,
    *,
    options: WriteOptions,
    spool_dir: str | Path | None = None,
    log: Logger | None = None,
    stats: Callable[[], Mapping[str, int]] | None = None,
    headroom: Callable[[], str | None] | None = None,
    hooks: RowHooks | None = None,
) -> UpsertReport:
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

    **Overlap.** With ``options.overlap``, a kind whose ``overlap_sends`` attribute is true (events)
    and no ``hooks``, full batches of rows whose key has not been sent yet leave while the input is
    still read; the unmapped-key check of the first row (for CSV and SQL: of every row) comes first.
    Whatever is left goes after the last row is read: rows of keys never sent (partial batches) at
    once, a later duplicate of a key already sent only once every earlier batch is answered, so the
    last row of a key still wins. A row
    already sent when a later duplicate appears is accounted by its answer (``upserted``), not as
    superseded; every row is still accounted once.
    """
    run = _Run(kind, report, options, log or _log, hooks or _NO_HOOKS)
    report.start()
    if _can_overlap(run, client):
        with RowSpool(spool_dir) as spool:
            try:
                _run_overlapped(rows, run, spool, client, headroom)
            finally:
                if stats is not None:
                    report.add_client_stats(stats())
                report.finish()
        return report
    with RowSpool(spool_dir) as spool:
        _read_and_validate(rows, run, spool)
        for dup in spool.superseded():
            report.record_superseded(dup.ref, dup.replaced_by, dup.key)
        if run.hooks.prepare is not None:
            run.hooks.prepare(spool.winners)
        pending = spool.winner_count
        run.logger.info(
            "Read %d rows from %s: %d valid and unique, %d rejected by validation, "
            "%d superseded by a later duplicate.",
            report.total,
            options.source,
            pending,
            report.rejected,
            report.superseded,
        )
        if options.dry_run or pending == 0:
            if options.dry_run:
                report.record_would_send(_count_to_send(spool, run))
            report.finish()
            return report
        if client is None:
            raise ValueError("a client is required unless dry_run is set")
        try:
            batches = spool.batch_count(options.batch_size)
            _expect(client, batches)
            _send_all(_to_send(spool.winners(), run), batches, pending, client, run, headroom)
        finally:
            if stats is not None:
                report.add_client_stats(stats())
            report.finish()
    return report


def _expect(client: Any, batches: int) -> None:
    """Tell the client's rate limiter how many requests the run sends in all (a lower bound is
    safe): a short run skips the limiter's start probe. A client without the hint is fine."""
    expect = getattr(client, "expect_requests", None)
    if expect is not None:
        expect(batches)


def _can_overlap(run: _Run, client: Any) -> bool:
    """Overlap reading with sending only where nothing needs the whole input first: a state store's
    hooks decide on all winners before the first request, and phases order whole passes."""
    hooks = run.hooks
    no_hooks = hooks.prepare is None and hooks.unchanged is None
    no_hooks = no_hooks and hooks.confirmed is None and hooks.refused is None
    kind_allows = bool(getattr(run.kind, "overlap_sends", False))
    return run.options.overlap and not run.options.dry_run and client is not None and kind_allows and no_hooks


def _run_overlapped(
    rows: Iterable[SourceRow],
    run: _Run,
    spool: RowSpool,
    client: Any,
    headroom: Callable[[], str | None] | None,
) -> None:
    """Read, validate and spool every row while :class:`_Stream` sends full batches of keys not sent
    yet; then send what is left (see :func:`run_writes`)."""
    noun, options = run.kind.words.noun, run.options
    progress = _Progress(0, 0, noun, options.progress_interval_s, run.logger, headroom)
    in_flight: set[Future[BatchOutcome]] = set()
    with _pool(run) as pool:
        stream = _Stream(run, client, pool, in_flight, progress, spool)
        try:
            _read_and_validate(rows, run, spool, stream.offer)
            _expect(
                client, stream.batches + -(-max(spool.winner_count - stream.rows, 0) // options.batch_size)
            )
            streamed_superseded = 0
            for dup in spool.superseded():
                if stream.sent(dup.ref.position):
                    streamed_superseded += 1  # sent, and accounted by its answer
                else:
                    run.report.record_superseded(dup.ref, dup.replaced_by, dup.key)
            left = spool.winner_count - (stream.rows - streamed_superseded)
            progress.add_totals(stream.batches + -(-left // options.batch_size), stream.rows + left)
            _log_read(run, spool.winner_count, stream)
            if left:
                _send_rest(spool, stream, left, client, run, pool, in_flight, progress)
            while in_flight:
                _collect(in_flight, run, progress)
        except BaseException:
            if stream.batches or in_flight:  # something was sent: say what became of it
                _drain(in_flight, run, progress)
            raise
    progress.finish()


def _send_rest(
    spool: RowSpool,
    stream: _Stream,
    left: int,
    client: Any,
    run: _Run,
    pool: ThreadPoolExecutor,
    in_flight: set[Future[BatchOutcome]],
    progress: _Progress,
) -> None:
    """Send the winners not sent while reading. Rows of a key never sent (partial batches) leave at
    once, next to the batches still in flight; a row whose key may be in one of those (a later
    duplicate) leaves only after every earlier batch is answered, so the last row of a key wins."""
    now = (i for i in spool.unsent_winners() if i.phase == 0 and not stream.maybe_sent(i.key))
    batches, rows = _submit_all(now, client, run, pool, in_flight, progress, phase=0, drain=False)
    if rows < left:  # the totals, now that the rows are split in two passes
        size = run.options.batch_size
        progress.add_totals(stream.batches + batches + -(-(left - rows) // size), progress.total_events)
        later = (i for i in spool.unsent_winners() if i.phase != 0 or stream.maybe_sent(i.key))
        _submit_all(later, client, run, pool, in_flight, progress)


def _log_read(run: _Run, winners: int, stream: _Stream) -> None:
    report = run.report
    run.logger.info(
        "Read %d rows from %s: %d valid and unique, %d rejected by validation, "
        "%d superseded by a later duplicate; %d sent while reading.",
        report.total,
        run.options.source,
        winners,
        report.rejected,
        report.superseded,
        stream.rows,
    )


class _Stream:
    """Sends full batches while the input is read: rows of phase 0 whose key was not sent yet.

    The first full batch leaves at once (the limiter's probe); the next full batches read before
    its answer are left for the pass after reading (``options.overlap_hold``). A short input is
    then read whole while the probe is out, and its size is announced before its other requests (a
    short run gets a burst, not one request per round trip); a longer one loses nothing, as the
    limiter lets no second request leave before the probe's answer anyway.

    A later row of a key still in the unsent batch replaces it there (the replaced row is then
    superseded, as without overlap). Keys sent are remembered in a fixed 1 MiB Bloom filter: a false
    "maybe sent" only holds a row back for the pass after reading, which is always correct. Sent
    positions are one bit each.
    """

    _BITS = 1 << 23

    def __init__(
        self,
        run: _Run,
        client: Any,
        pool: ThreadPoolExecutor,
        in_flight: set[Future[BatchOutcome]],
        progress: _Progress,
        spool: RowSpool,
    ) -> None:
        self._run, self._client, self._pool, self._spool = run, client, pool, spool
        self._in_flight, self._progress = in_flight, progress
        self._keys = bytearray(self._BITS // 8)
        self._positions = bytearray()
        self._buffers: dict[Any, dict[Any, WriteItem]] = {}
        self._first: Future[BatchOutcome] | None = None  # the first batch sent (the probe)
        self.rows = 0
        self.batches = 0

    def _slots(self, key: Any) -> tuple[int, int]:
        h = hash(key) & 0xFFFFFFFFFFFF
        return h % self._BITS, (h >> 23) % self._BITS

    def maybe_sent(self, key: Any) -> bool:
        """Whether a row of ``key`` may have been sent while reading (never wrong when false)."""
        return all(self._keys[i >> 3] & (1 << (i & 7)) for i in self._slots(key))

    def sent(self, position: int) -> bool:
        """Whether the row at ``position`` was sent while reading."""
        index = position >> 3
        return index < len(self._positions) and bool(self._positions[index] & (1 << (position & 7)))

    def offer(self, item: WriteItem) -> None:
        """Take one valid row; send its group's batch once full."""
        if item.phase != 0 or self.maybe_sent(item.key):
            return  # left for the pass after reading
        buffer = self._buffers.setdefault(item.group, {})
        buffer.pop(item.key, None)  # a later row of an unsent key replaces it (and keeps input order)
        buffer[item.key] = item
        if len(buffer) >= self._run.options.batch_size:
            del self._buffers[item.group]
            if self._holding():
                return  # its rows are left for the pass after reading
            self._send(list(buffer.values()))

    def _holding(self) -> bool:
        """Whether full batches wait for the pass after reading: the probe is still unanswered."""
        first = self._first
        return self._run.options.overlap_hold and first is not None and not first.done()

    def _send(self, batch: list[WriteItem]) -> None:
        if any(future.done() for future in self._in_flight):
            # record answers while reading (progress lines, and a failure stops the read)
            _collect(self._in_flight, self._run, self._progress)
        while len(self._in_flight) >= self._run.options.max_in_flight:
            _collect(self._in_flight, self._run, self._progress)
        for item in batch:
            for i in self._slots(item.key):
                self._keys[i >> 3] |= 1 << (i & 7)
            position = item.ref.position
            if position >> 3 >= len(self._positions):
                self._positions.extend(bytes((position >> 3) + 1 - len(self._positions) + 4096))
            self._positions[position >> 3] |= 1 << (position & 7)
        self._spool.mark_sent(item.ref.position for item in batch)
        self.rows += len(batch)
        self.batches += 1
        future = self._pool.submit(send_batch, self._run.kind, self._client, batch)
        self._first = self._first or future
        self._in_flight.add(future)


def _read_and_validate(
    rows: Iterable[SourceRow], run: _Run, spool: RowSpool, on_valid: Callable[[WriteItem], None] | None = None
) -> None:
    """Pass 1: every row is read, mapped and validated; invalid ones are reported, valid ones spooled
    (and given to ``on_valid``, which may send them, while no unmapped key has been seen)."""
    counted = [0]
    try:
        unmapped = _validate_rows(rows, run, spool, counted, on_valid)
    finally:
        run.report.record_read(counted[0])  # once, not per row: the report's lock costs per call
    source = run.options.source
    if unmapped:
        raise run.kind.mapper.unmapped_error(sorted(unmapped), source=source, line=min(unmapped.values()))
    if counted[0] == 0 and not run.options.allow_empty:
        raise InputError(
            f"the input has no rows; nothing to {run.kind.words.verb}. "
            "Pass allow_empty=True when an empty input is normal.",
            source=source,
        )
    spool.finish()
    run.logger.debug("Spooled %d valid rows.", spool.winner_count)


def _validate_rows(
    rows: Iterable[SourceRow],
    run: _Run,
    spool: RowSpool,
    counted: list[int],
    on_valid: Callable[[WriteItem], None] | None = None,
) -> dict[str, int]:
    """Map every row; return the unmapped source keys (with where each was first seen)."""
    mapper, report, source, route = run.kind.mapper, run.report, run.options.source, run.kind.route
    unmapped: dict[str, int] = {}
    checked_key_sets: set[tuple[str, ...]] = set()
    for row in rows:
        counted[0] += 1
        ref = RowRef(row.position, row.line, row.data, source)
        if isinstance(row.data, Mapping):
            keys = tuple(row.data)
            if keys not in checked_key_sets:
                for name in mapper.unmapped_keys(keys):
                    unmapped.setdefault(name, ref.where)
                if len(checked_key_sets) < 10_000:
                    checked_key_sets.add(keys)
        if unmapped:
            continue  # keep reading to name every unmapped key, but map nothing
        mapped = mapper.map_row(row.data)
        payload, key = mapped.payload, mapped.key
        if payload is None or key is None:
            _reject(ref, mapped.errors, key, report)
            continue
        group, phase = route(key, payload)
        spool.add(ref, key, payload, group=group, phase=phase)
        if on_valid is not None:
            on_valid(WriteItem(ref, key, payload, group, phase))
    return unmapped


def _reject(ref: RowRef, errors: Iterable[Any], key: Any, report: UpsertReport) -> None:
    problems = list(errors)
    if not problems:
        report.record_invalid(ref, "INVALID_ROW", "row refused", key=key)
        return
    first = problems[0]
    message = "; ".join(p.message for p in problems)
    report.record_invalid(ref, first.category, message, first.field, key=key)


def _to_send(winners: Iterable[WriteItem], run: _Run) -> Iterator[WriteItem]:
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


def _count_to_send(spool: RowSpool, run: _Run) -> int:
    if run.hooks.unchanged is None:
        return spool.winner_count
    return sum(1 for _ in _to_send(spool.winners(), run))


def _batches(items: Iterable[WriteItem], size: int) -> Iterator[list[WriteItem]]:
    """Consecutive rows of one phase and group, at most ``size`` per batch."""
    batch: list[WriteItem] = []
    for item in items:
        if batch and (len(batch) == size or item.group != batch[0].group or item.phase != batch[0].phase):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def _send_all(
    items: Iterable[WriteItem],
    total_batches: int,
    pending: int,
    client: Any,
    run: _Run,
    headroom: Callable[[], str | None] | None,
) -> None:
    """Pass 2: send the batches ``max_in_flight`` at a time, one phase after the other."""
    progress = _Progress(
        total_batches, pending, run.kind.words.noun, run.options.progress_interval_s, run.logger, headroom
    )
    in_flight: set[Future[BatchOutcome]] = set()
    with _pool(run) as pool:
        try:
            _submit_all(items, client, run, pool, in_flight, progress)
        except BaseException:
            _drain(in_flight, run, progress)
            raise
    progress.finish()


def _pool(run: _Run) -> ThreadPoolExecutor:
    prefix = f"hubspot-{run.kind.words.verb}"
    return ThreadPoolExecutor(max_workers=run.options.max_in_flight, thread_name_prefix=prefix)


def _submit_all(
    items: Iterable[WriteItem],
    client: Any,
    run: _Run,
    pool: ThreadPoolExecutor,
    in_flight: set[Future[BatchOutcome]],
    progress: _Progress,
    *,
    phase: int | None = None,
    drain: bool = True,
) -> tuple[int, int]:
    """Send ``items`` in batches, ``max_in_flight`` at a time, a new phase after the previous one.

    :param phase: the phase of the batches already in flight (``None``: the first batch waits
        for every batch in flight to be answered).
    :param drain: wait for every batch to be answered before returning.
    :returns: the batches and rows submitted.
    """
    batches = rows = 0
    for batch in _batches(items, run.options.batch_size):
        limit = 1 if batch[0].phase != phase else run.options.max_in_flight
        phase = batch[0].phase
        while len(in_flight) >= limit:  # a new phase waits for the previous one to finish
            _collect(in_flight, run, progress)
        in_flight.add(pool.submit(send_batch, run.kind, client, batch))
        batches, rows = batches + 1, rows + len(batch)
    while drain and in_flight:
        _collect(in_flight, run, progress)
    return batches, rows


def _drain(in_flight: set[Future[BatchOutcome]], run: _Run, progress: _Progress) -> None:
    """After a failure: account for the batches already on the wire (they may have been applied),
    so the report files say exactly what happened before it."""
    for future in in_flight:
        future.cancel()
    for future in wait(in_flight).done:
        if not future.cancelled() and future.exception() is None:
            _record(future.result(), run, progress)
    words = run.kind.words
    # while reading overlapped sending, the total is not known yet
    done = f"{progress.batches_done} of {progress.total_batches} batches"
    if not progress.total_batches:
        done = f"{progress.batches_done} batches (sent while reading)"
    run.logger.error(
        "%s stopped after %s (%d %s %s, %d failed). Re-running is safe: %s.",
        words.verb.capitalize(),
        done,
        run.report.upserted,
        words.noun,
        words.done,
        run.report.failed,
        words.rerun,
    )


def _collect(in_flight: set[Future[BatchOutcome]], run: _Run, progress: _Progress) -> None:
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
        _record(future.result(), run, progress)
    if failure is not None:
        raise failure


def _record(outcome: BatchOutcome, run: _Run, progress: _Progress) -> None:
    report, confirmed, refused = run.report, run.hooks.confirmed, run.hooks.refused
    for item, object_id in outcome.upserted:
        report.record_upserted(item.ref, item.key, object_id, item.payload)
        if confirmed is not None:
            confirmed(item, object_id)
    for failure in outcome.failed:
        item = failure.item
        report.record_refused(item.ref, failure.category, failure.message, failure.field, key=item.key)
        if refused is not None:
            refused(item)
    report.record_batch(requests=outcome.requests, splits=outcome.splits)
    progress.batch_done(len(outcome.upserted) + len(outcome.failed))


class _Progress:
    """Logs batches done / total, rows per second, rate-limit headroom and ETA."""

    def __init__(
        self,
        total_batches: int,
        total_events: int,
        noun: str,
        interval_s: float,
        logger: Logger,
        headroom: Callable[[], str | None] | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total_batches = total_batches
        self.total_events = total_events
        self.batches_done = 0
        self.events_done = 0
        self._noun = noun
        self._interval = interval_s
        self._log = logger
        self._headroom = headroom
        self._clock = clock
        self._start = clock()
        self._last = self._start

    def add_totals(self, batches: int, events: int) -> None:
        """Set the totals once they are known (after reading, when sending overlapped it)."""
        self.total_batches, self.total_events = batches, events

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
        if self.total_batches == 0 and not final:  # sending while reading: no totals yet
            self._log.info(
                "Progress (still reading): %d batches, %d %s, %.1f %s/s%s.",
                self.batches_done,
                self.events_done,
                self._noun,
                rate,
                self._noun,
                f", rate-limit headroom {headroom}" if headroom else "",
            )
            return
        self._log.info(
            "%s %d/%d batches, %d/%d %s, %.1f %s/s%s, ETA %s.",
            "Sent" if final else "Progress:",
            self.batches_done,
            self.total_batches,
            self.events_done,
            self.total_events,
            self._noun,
            rate,
            self._noun,
            f", rate-limit headroom {headroom}" if headroom else "",
            eta,
        )
