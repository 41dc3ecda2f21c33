"""Sending while reading (the *overlap* of :func:`~hubspot_events_provider.core.engine.run.run_writes`).

With ``options.overlap``, a kind whose ``overlap_sends`` is true (events) and no state hooks, full
batches of rows whose key has not been sent yet leave while the input is still read; the
unmapped-key check of the first row (for CSV and SQL: of every row) comes first. Whatever is left
goes after the last row is read: rows of keys never sent (partial batches) at once, a later
duplicate of a key already sent only once every earlier batch is answered, so the last row of a key
still wins.

Counts are a function of the input alone, not of the timing: the answers to rows sent while reading
are kept in the spool (:meth:`RowSpool.keep_answers`) and told to the report once the whole input
is read, when it is known which rows a later row of their key replaced. A replaced row is
``superseded`` whether it had left or not (the requests it cost stay in ``requests``); the results
file gets the last row of each key only, the version HubSpot holds. Every row is accounted once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from hubspot_events_provider.core.engine.batching import BatchOutcome, send_batch
from hubspot_events_provider.core.engine.options import RunContext
from hubspot_events_provider.core.engine.reading import read_and_validate
from hubspot_events_provider.core.engine.sending import (
    Progress,
    collect,
    drain,
    make_pool,
    record_answers,
    submit_all,
)
from hubspot_events_provider.core.engine.spool import RowSpool
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.rows.identity import WriteItem
from hubspot_events_provider.core.rows.sources import SourceRow

__all__ = ["can_overlap", "run_overlapped"]


def can_overlap(run: RunContext) -> bool:
    """Overlap reading with sending only where nothing needs the whole input first: a state store's
    hooks decide on all winners before the first request, and phases order whole passes (a kind
    says it has none with ``overlap_sends``)."""
    hooks = run.hooks
    no_hooks = hooks.prepare is None and hooks.unchanged is None
    no_hooks = no_hooks and hooks.confirmed is None and hooks.refused is None
    return run.options.overlap and not run.options.dry_run and run.kind.overlap_sends and no_hooks


def run_overlapped(
    rows: Iterable[SourceRow],
    run: RunContext,
    spool: RowSpool,
    client: HubSpotApi,
    headroom: Callable[[], str | None] | None,
) -> None:
    """Read, validate and spool every row while :class:`_Stream` sends full batches of keys not sent
    yet; then send what is left (see :func:`run_writes`)."""
    noun, options = run.kind.words.noun, run.options
    progress = Progress(0, 0, noun, options.progress_interval_s, run.logger, headroom)
    in_flight: set[Future[BatchOutcome]] = set()
    with make_pool(run) as pool:
        stream = _Stream(run, client, pool, in_flight, progress, spool)
        try:
            read_and_validate(rows, run, spool, stream.offer)
            # the run's size, now known, for the limiter (a lower bound is safe)
            unsent = max(spool.winner_count - stream.rows, 0)
            client.expect_requests(stream.batches + -(-unsent // options.batch_size))
            streamed_superseded = 0
            for dup in spool.superseded():  # sent or not: the same input, the same counts
                streamed_superseded += stream.sent(dup.ref.position)
                run.report.record_superseded(dup.ref, dup.replaced_by, dup.key)
            left = spool.winner_count - (stream.rows - streamed_superseded)
            progress.add_totals(stream.batches + -(-left // options.batch_size), stream.rows + left)
            _log_read(run, spool.winner_count, stream)
            if left:
                _send_rest(spool, stream, left, client, run, pool, in_flight, progress)
            while in_flight:
                collect(in_flight, run, progress, stream.record)
            _tell_kept(spool, run)
        except BaseException:
            if stream.batches or in_flight:  # something was sent: say what became of it
                drain(in_flight, run, progress, stream.record, lambda: _tell_kept(spool, run))
            raise
    progress.finish()


def _send_rest(
    spool: RowSpool,
    stream: _Stream,
    left: int,
    client: HubSpotApi,
    run: RunContext,
    pool: ThreadPoolExecutor,
    in_flight: set[Future[BatchOutcome]],
    progress: Progress,
) -> None:
    """Send the winners not sent while reading. Rows of a key never sent (partial batches) leave at
    once, next to the batches still in flight; a row whose key may be in one of those (a later
    duplicate) leaves only after every earlier batch is answered, so the last row of a key wins."""
    now = (i for i in spool.unsent_winners() if i.phase == 0 and not stream.maybe_sent(i.key))
    record = stream.record
    batches, rows = submit_all(
        now, client, run, pool, in_flight, progress, phase=0, drain=False, record=record
    )
    if rows < left:  # the totals, now that the rows are split in two passes
        size = run.options.batch_size
        progress.add_totals(stream.batches + batches + -(-(left - rows) // size), progress.total_events)
        later = (i for i in spool.unsent_winners() if i.phase != 0 or stream.maybe_sent(i.key))
        submit_all(later, client, run, pool, in_flight, progress, record=record)


def _tell_kept(spool: RowSpool, run: RunContext) -> None:
    """The kept answers to rows sent while reading, now that the winners are known: a replaced row
    was accounted ``superseded`` (it has no results line); a winner is ``upserted`` or ``failed``."""
    report = run.report
    for answer in spool.kept_answers():
        item = answer.item
        if answer.category is None:
            report.record_written(item.ref, item.key, answer.object_id, item.payload)
        else:
            report.record_refused(item.ref, answer.category, answer.message or "", answer.field, key=item.key)


def _log_read(run: RunContext, winners: int, stream: _Stream) -> None:
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
        run: RunContext,
        client: HubSpotApi,
        pool: ThreadPoolExecutor,
        in_flight: set[Future[BatchOutcome]],
        progress: Progress,
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

    def record(self, outcome: BatchOutcome, run: RunContext) -> None:
        """Where the answers of a batch go: a batch sent while reading is kept in the spool until
        the winners are known (:func:`_tell_kept`), any other goes to the report at once."""
        rows = outcome.written or [(failure.item, None) for failure in outcome.failed]
        if not rows or not self.sent(rows[0][0].ref.position):
            record_answers(outcome, run)
            return
        self._spool.keep_answers(
            ((item.ref.position, object_id) for item, object_id in outcome.written),
            ((f.item.ref.position, f.category, f.message, f.field) for f in outcome.failed),
        )

    def _send(self, batch: list[WriteItem]) -> None:
        if any(future.done() for future in self._in_flight):
            # collect answers while reading (progress lines, and a failure stops the read)
            collect(self._in_flight, self._run, self._progress, self.record)
        while len(self._in_flight) >= self._run.options.max_in_flight:
            collect(self._in_flight, self._run, self._progress, self.record)
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
