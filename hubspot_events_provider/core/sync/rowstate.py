"""The sync state for participations and deletes: the same store and guarantees as the events'.

:func:`run_attendance_sync` is :func:`~hubspot_events_provider.core.kinds.attendance.kind.run_attendance`
with a :class:`~.state.SyncState` of ``PARTICIPATIONS`` plugged into the write pipeline
through its :class:`~hubspot_events_provider.core.engine.contract.RowHooks` (:class:`ChangedRows`)::

    prepare: digest of every winner -> unchanged flags      (chunks, one query each)
             rows to send -> mark_pending, checkpoint()      before the first request
    pass 2:  unchanged rows are counted, not sent; the rest is sent
             confirmed -> record_confirmed(digest)   refused -> record_failed (sent again next run)
    commit() -- or, on a failure after sending, checkpoint() then close()

:func:`run_delete_sync` is :func:`~hubspot_events_provider.core.kinds.deletes.kind.run_delete` with
the upsert's state (:class:`ForgetDeleted`): the events it names that the state knows are marked
pending before the first request (a run killed mid-way never leaves a deleted event "confirmed"),
and each event HubSpot confirms gone leaves the state, so the upsert sharing it sends it again if it
comes back to the source and its ``on_missing`` never acts on it again.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypedDict, Unpack

from hubspot_events_provider.core.engine.contract import RowHooks
from hubspot_events_provider.core.engine.report import WriteReport
from hubspot_events_provider.core.engine.run import RunExtras, WriteOptions
from hubspot_events_provider.core.engine.summary import RowStateSummary
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.kinds.attendance.kind import run_attendance
from hubspot_events_provider.core.kinds.attendance.mapper import AttendanceMapper
from hubspot_events_provider.core.kinds.deletes.kind import EventKeyMapper, run_delete
from hubspot_events_provider.core.rows.identity import WriteItem
from hubspot_events_provider.core.rows.sources import SourceRow
from hubspot_events_provider.core.sync.digest import payload_digest
from hubspot_events_provider.core.sync.options import SyncLogger
from hubspot_events_provider.core.sync.order import PreparedOrder
from hubspot_events_provider.core.sync.state import EVENTS, PARTICIPATIONS, SyncState

__all__ = ["ChangedRows", "ForgetDeleted", "run_attendance_sync", "run_delete_sync"]

_CHUNK = 1000
_log = logging.getLogger(__name__)


class _StatePlan:
    """What both plans share: the state, checkpoints, and publishing or keeping it at the end."""

    def __init__(self, state: SyncState, *, dry_run: bool, log: SyncLogger, interval_s: float) -> None:
        self.state = state
        self.dry_run = dry_run
        self.log = log
        self.interval_s = interval_s
        self.last_checkpoint = time.monotonic()
        self.sending = False
        self.to_send = 0

    def maybe_checkpoint(self) -> None:
        now = time.monotonic()
        if now - self.last_checkpoint >= self.interval_s:
            self.last_checkpoint = now
            self.state.checkpoint()

    def publish_marks(self) -> None:
        """The pending marks are public before the first request (never on a dry run)."""
        if self.to_send and not self.dry_run:
            self.state.checkpoint()
            self.sending = True

    def abort(self) -> None:
        """After a failure: keep what HubSpot confirmed (rows sent and unanswered stay pending)."""
        self.state.close_after_failure(sent=self.sending, log=self.log)

    def finish(self) -> RowStateSummary:
        """Publish the state (never on a dry run), release it, and say what it holds."""
        known = len(self.state)
        if self.dry_run:
            self.state.close()
        else:
            self.state.commit()
        return {
            "state_path": self.state.location,
            "existed": self.state.existed,
            "rebuilt": self.state.rebuilt,
            "interrupted_run": self.state.interrupted_run,
            "known": known,
            "sent": self.to_send,
            "forgotten": 0,
            "message": "",
        }


class ChangedRows(_StatePlan):
    """The pipeline's hooks for a kind whose row key is the state's key: send only what changed.

    :param state: the opened state (its shape's key is the rows' key).
    :param dry_run: flag rows, mark and publish nothing.
    :param log: for the one line that says how many rows are unchanged.
    :param interval_s: publish confirmed outcomes at least this often during long runs.
    """

    def __init__(
        self, state: SyncState, *, dry_run: bool, log: SyncLogger, interval_s: float = 300.0
    ) -> None:
        super().__init__(state, dry_run=dry_run, log=log, interval_s=interval_s)
        self.order = PreparedOrder()  # per winner in sending order: unchanged or to send

    def hooks(self, also_confirmed: Callable[[WriteItem, str | None], None] | None = None) -> RowHooks:
        """The hooks; ``also_confirmed`` is called after the state learnt each confirmed row."""

        def confirmed(item: WriteItem, object_id: str | None) -> None:
            self.confirmed(item, object_id)
            if also_confirmed is not None:
                also_confirmed(item, object_id)

        return RowHooks(
            unchanged=self.unchanged, confirmed=confirmed, refused=self.refused, prepare=self.prepare
        )

    def prepare(self, winners: Callable[[], Iterator[WriteItem]]) -> None:
        """Flag every winner (one query per chunk), mark the others pending, publish the marks."""
        rows = winners()
        while chunk := list(itertools.islice(rows, _CHUNK)):
            probes = [(tuple(item.key), payload_digest(item.payload)) for item in chunk]
            flags = self.state.unchanged_flags(probes)
            changed = [key for (key, _digest), flag in zip(probes, flags, strict=True) if not flag]
            self.to_send += len(changed)
            if changed and not self.dry_run:
                self.state.mark_pending(changed)
            self.order.prepare(chunk, flags)
        self.publish_marks()
        self.log.info(
            "Sync state %s: %d row(s) unchanged since HubSpot last confirmed them, %d to send.",
            self.state.location,
            len(self.order.flags) - self.to_send,
            self.to_send,
        )

    def unchanged(self, item: WriteItem) -> bool:
        return self.order.unchanged(item)

    def confirmed(self, item: WriteItem, object_id: str | None) -> None:
        self.state.record_confirmed(tuple(item.key), payload_digest(item.payload), object_id)
        self.maybe_checkpoint()

    def refused(self, item: WriteItem) -> None:
        self.state.record_failed(tuple(item.key))
        self.maybe_checkpoint()

    def finish(self) -> RowStateSummary:
        summary = super().finish()
        unchanged = len(self.order.flags) - self.to_send
        verb = "would be sent" if self.dry_run else "sent"
        summary["message"] = f"{unchanged} row(s) unchanged (not sent), {self.to_send} {verb}."
        return summary


class ForgetDeleted(_StatePlan):
    """The pipeline's hooks for deletes: events HubSpot confirms gone leave the (events) state.

    :param state: the opened events state (the upsert's).
    :param dry_run: mark, forget and publish nothing.
    :param log: unused beyond failures.
    :param interval_s: publish at least this often during long runs.
    """

    def __init__(
        self, state: SyncState, *, dry_run: bool, log: SyncLogger, interval_s: float = 300.0
    ) -> None:
        super().__init__(state, dry_run=dry_run, log=log, interval_s=interval_s)
        self.forgotten = 0

    def hooks(self) -> RowHooks:
        return RowHooks(confirmed=self.confirmed, prepare=self.prepare)

    def prepare(self, winners: Callable[[], Iterator[WriteItem]]) -> None:
        """Withdraw the state's claim on every event about to be deleted that it knows; publish."""
        rows = winners()
        while chunk := list(itertools.islice(rows, _CHUNK)):
            self.to_send += len(chunk)
            if not self.dry_run:
                self.state.mark_pending([(item.key[0], item.key[1]) for item in chunk], known_only=True)
        self.publish_marks()

    def confirmed(self, item: WriteItem, _object_id: str | None) -> None:
        """Deleted (or already gone): forget it. A refused delete stays pending: sent again by the
        upsert if the source still has it."""
        self.state.record_deleted((item.key[0], item.key[1]))
        self.forgotten += 1
        self.maybe_checkpoint()

    def finish(self) -> RowStateSummary:
        summary = super().finish()
        summary["forgotten"] = self.forgotten
        summary["message"] = (
            f"{self.forgotten} deleted event(s) left the sync state"
            if not self.dry_run
            else f"dry run: {self.to_send} event(s) would be deleted; the sync state is unchanged"
        ) + f" ({summary['known']} known)."
        return summary


def _run(plan: _StatePlan, write: Callable[[], Any]) -> RowStateSummary:
    try:
        write()
    except BaseException:
        plan.abort()
        raise
    return plan.finish()


class StateRunExtras(TypedDict, total=False):
    """The optional keyword arguments of :func:`run_attendance_sync` and :func:`run_delete_sync`: the
    pipeline's (``spool_dir``, ``log``, ``stats``, ``headroom``) and how often a long run publishes
    its state (``checkpoint_interval_s``, 300 s by default)."""

    spool_dir: str | Path | None
    log: SyncLogger | None
    stats: Callable[[], Mapping[str, int]] | None
    headroom: Callable[[], str | None] | None
    checkpoint_interval_s: float


def _pipeline_extras(extras: StateRunExtras, log: SyncLogger, hooks: RowHooks) -> RunExtras:
    """The write pipeline's keyword arguments from a state run's."""
    return {
        "spool_dir": extras.get("spool_dir"),
        "log": log,
        "stats": extras.get("stats"),
        "headroom": extras.get("headroom"),
        "hooks": hooks,
    }


def _check_shape(state: SyncState, expected: Any, what: str) -> None:
    if state.shape != expected:
        raise ValueError(f"{what} needs a sync state of {expected.table}, not of {state.shape.table}")


def run_attendance_sync(
    rows: Iterable[SourceRow],
    mapper: AttendanceMapper,
    client: HubSpotApi | None,
    report: WriteReport,
    *,
    options: WriteOptions,
    state: SyncState,
    on_confirmed: Callable[[WriteItem, str | None], None] | None = None,
    **extras: Unpack[StateRunExtras],
) -> RowStateSummary:
    """Record the participations that changed since HubSpot last confirmed them; ``state`` (of
    ``PARTICIPATIONS``) is published and released in every case.

    The parameters are :func:`run_attendance`'s, plus the state, ``on_confirmed`` (called for each
    row HubSpot confirmed, after the state) and how often long runs publish.

    :raises InputError: bad input, raised before anything is sent.
    """
    _check_shape(state, PARTICIPATIONS, "attendance")
    logger = extras.get("log") or _log
    interval = extras.get("checkpoint_interval_s", 300.0)
    plan = ChangedRows(state, dry_run=options.dry_run, log=logger, interval_s=interval)
    pipeline = _pipeline_extras(extras, logger, plan.hooks(on_confirmed))
    return _run(plan, lambda: run_attendance(rows, mapper, client, report, options=options, **pipeline))


def run_delete_sync(
    rows: Iterable[SourceRow],
    mapper: EventKeyMapper,
    client: HubSpotApi | None,
    report: WriteReport,
    *,
    options: WriteOptions,
    state: SyncState,
    **extras: Unpack[StateRunExtras],
) -> RowStateSummary:
    """Delete the events ``rows`` name and forget each one HubSpot confirms gone in ``state`` (the
    upsert's, of ``EVENTS``), published and released in every case.

    The parameters are :func:`run_delete`'s, plus the state; the state's remembered ``app_id``
    saves the delete its ``/events/search``.

    :raises InputError: bad input, raised before anything is sent.
    """
    _check_shape(state, EVENTS, "a delete")
    logger = extras.get("log") or _log
    interval = extras.get("checkpoint_interval_s", 300.0)
    plan = ForgetDeleted(state, dry_run=options.dry_run, log=logger, interval_s=interval)
    pipeline = _pipeline_extras(extras, logger, plan.hooks())
    app_id = state.app_id
    return _run(
        plan, lambda: run_delete(rows, mapper, client, report, options=options, app_id=app_id, **pipeline)
    )
