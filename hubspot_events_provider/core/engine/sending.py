"""Pass 2 of a write: batches of one group and phase, sent ``max_in_flight`` at a time through one
client, every answer recorded in the report (and told to the state hooks), progress logged."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from hubspot_events_provider.core.engine.batching import BatchOutcome, send_batch
from hubspot_events_provider.core.engine.options import Logger, RunContext
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.rows.identity import WriteItem

__all__ = [
    "Progress",
    "Recorder",
    "collect",
    "drain",
    "group_batches",
    "make_pool",
    "record_answers",
    "send_all",
    "submit_all",
]

Recorder = Callable[[BatchOutcome, RunContext], None]
"""What becomes of a batch's per-row answers (:func:`record_answers`: the report and the hooks)."""


def group_batches(items: Iterable[WriteItem], size: int) -> Iterator[list[WriteItem]]:
    """Consecutive rows of one phase and group, at most ``size`` per batch."""
    batch: list[WriteItem] = []
    for item in items:
        if batch and (len(batch) == size or item.group != batch[0].group or item.phase != batch[0].phase):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def send_all(
    items: Iterable[WriteItem],
    total_batches: int,
    pending: int,
    client: HubSpotApi,
    run: RunContext,
    headroom: Callable[[], str | None] | None,
) -> None:
    """Pass 2: send the batches ``max_in_flight`` at a time, one phase after the other."""
    progress = Progress(
        total_batches, pending, run.kind.words.noun, run.options.progress_interval_s, run.logger, headroom
    )
    in_flight: set[Future[BatchOutcome]] = set()
    with make_pool(run) as pool:
        try:
            submit_all(items, client, run, pool, in_flight, progress)
        except BaseException:
            drain(in_flight, run, progress)
            raise
    progress.finish()


def make_pool(run: RunContext) -> ThreadPoolExecutor:
    prefix = f"hubspot-{run.kind.words.verb}"
    return ThreadPoolExecutor(max_workers=run.options.max_in_flight, thread_name_prefix=prefix)


def submit_all(
    items: Iterable[WriteItem],
    client: HubSpotApi,
    run: RunContext,
    pool: ThreadPoolExecutor,
    in_flight: set[Future[BatchOutcome]],
    progress: Progress,
    *,
    phase: int | None = None,
    drain: bool = True,
    record: Recorder | None = None,
) -> tuple[int, int]:
    """Send ``items`` in batches, ``max_in_flight`` at a time, a new phase after the previous one.

    :param phase: the phase of the batches already in flight (``None``: the first batch waits
        for every batch in flight to be answered).
    :param drain: wait for every batch to be answered before returning.
    :param record: where the rows' answers go (default :func:`record_answers`).
    :returns: the batches and rows submitted.
    """
    batches = rows = 0
    for batch in group_batches(items, run.options.batch_size):
        limit = 1 if batch[0].phase != phase else run.options.max_in_flight
        phase = batch[0].phase
        while len(in_flight) >= limit:  # a new phase waits for the previous one to finish
            collect(in_flight, run, progress, record)
        in_flight.add(pool.submit(send_batch, run.kind, client, batch))
        batches, rows = batches + 1, rows + len(batch)
    while drain and in_flight:
        collect(in_flight, run, progress, record)
    return batches, rows


def drain(
    in_flight: set[Future[BatchOutcome]],
    run: RunContext,
    progress: Progress,
    record: Recorder | None = None,
    settle: Callable[[], None] | None = None,
) -> None:
    """After a failure: account for the batches already on the wire (they may have been applied),
    so the report files say exactly what happened before it.

    :param record: where the rows' answers go (default :func:`record_answers`).
    :param settle: called once those are recorded, before the closing log line.
    """
    for future in in_flight:
        future.cancel()
    for future in wait(in_flight).done:
        if not future.cancelled() and future.exception() is None:
            _record(future.result(), run, progress, record)
    if settle is not None:
        settle()
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


def collect(
    in_flight: set[Future[BatchOutcome]], run: RunContext, progress: Progress, record: Recorder | None = None
) -> None:
    """Wait for at least one batch, record every finished one, re-raise the first failure.

    Finished futures leave ``in_flight`` (in place) before anything is raised, so the caller's
    clean-up never records a batch twice.

    :param record: where the rows' answers go (default :func:`record_answers`).
    """
    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
    in_flight.difference_update(done)
    failure: BaseException | None = None
    for future in done:
        exc = future.exception()
        if exc is not None:
            failure = failure or exc
            continue
        _record(future.result(), run, progress, record)
    if failure is not None:
        raise failure


def _record(outcome: BatchOutcome, run: RunContext, progress: Progress, record: Recorder | None) -> None:
    """A batch answered: its rows' answers, what it cost, the progress."""
    (record or record_answers)(outcome, run)
    run.report.record_batch(requests=outcome.requests, splits=outcome.splits)
    progress.batch_done(len(outcome.written) + len(outcome.failed))


def record_answers(outcome: BatchOutcome, run: RunContext) -> None:
    """Every row's answer in the report (``upserted`` or ``failed``), told to the state hooks."""
    report, confirmed, refused = run.report, run.hooks.confirmed, run.hooks.refused
    for item, object_id in outcome.written:
        report.record_written(item.ref, item.key, object_id, item.payload)
        if confirmed is not None:
            confirmed(item, object_id)
    for failure in outcome.failed:
        item = failure.item
        report.record_refused(item.ref, failure.category, failure.message, failure.field, key=item.key)
        if refused is not None:
            refused(item)


class Progress:
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
