"""A state-aware upsert: send only what changed, retry what failed, act on what left the source.

:func:`run_sync` is :func:`~hubspot_events_provider.core.kinds.events.kind.run_upsert` with a
:class:`~hubspot_events_provider.core.sync.state.SyncState` plugged into the write pipeline through its
:class:`~hubspot_events_provider.core.engine.contract.RowHooks`::

    pass 1 (pipeline): read, validate, de-duplicate            the state is locked, nothing sent
    prepare: source keys -> missing events -> guardrails        a tripped guardrail stops here
             digest of every winner -> unchanged flags          (chunks, one query each)
             rows to send -> mark_pending, checkpoint()         before the first request
    pass 2 (pipeline): unchanged rows are counted, not sent; the rest is sent
             confirmed -> record_confirmed(digest)   refused -> record_failed
    after:   /complete once per completed event; cancel or delete the missing events
    commit() (atomic publish) -- or, on a failure after sending, checkpoint() then close():
             what HubSpot confirmed is kept, everything else stays pending and is re-sent.

The state only ever claims what HubSpot confirmed, so a run killed anywhere leaves a state that is
still true. Airflow-free; the operator adapts parameters, paths and errors.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from hubspot_events_provider.core.engine.contract import RowHooks
from hubspot_events_provider.core.engine.options import RunExtras
from hubspot_events_provider.core.engine.report import UpsertReport
from hubspot_events_provider.core.engine.run import WriteOptions, run_writes
from hubspot_events_provider.core.engine.summary import SyncSummary
from hubspot_events_provider.core.errors import (
    HubSpotAuthError,
    HubSpotDailyLimitError,
    HubSpotError,
    HubSpotMissingScopesError,
)
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.kinds.events.api import (
    cancel_event,
    complete_event,
    delete_events,
)
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.identity import WriteItem
from hubspot_events_provider.core.rows.sources import SourceRow
from hubspot_events_provider.core.sync.digest import payload_digest
from hubspot_events_provider.core.sync.missing import MissingKeys
from hubspot_events_provider.core.sync.options import (
    MissingGuardrailError,
    OnMissing,
    SyncLogger,
    SyncOptions,
)
from hubspot_events_provider.core.sync.prepare import (
    EventKey,
    SendPlan,
    WatchedEventKind,
    WatchingMapper,
    event_key,
)
from hubspot_events_provider.core.sync.reconcile import Reconciler
from hubspot_events_provider.core.sync.state import SyncState

# SyncOptions, its parts and its error are defined in .options (SendPlan needs them too) and
# re-exported here, with the function they configure.
__all__ = ["MissingGuardrailError", "OnMissing", "SyncLogger", "SyncOptions", "run_sync"]

_SAMPLE = 20
_LOG_KEYS = 100
_log = logging.getLogger(__name__)
_FATAL = (HubSpotAuthError, HubSpotMissingScopesError, HubSpotDailyLimitError)


class _Tracker:
    """The state's side of one run: the pipeline's hooks, then lifecycle calls and missing events."""

    def __init__(self, plan: SendPlan) -> None:
        self.plan = plan
        self.reconciler: Reconciler | None = None
        self.state = plan.state
        self.sync = plan.sync
        self.dry_run = plan.dry_run
        self.log = plan.log
        self.last_checkpoint = time.monotonic()
        self.stats = {"cancelled": 0, "deleted": 0, "missing_failed": 0, "would_act": 0}
        self.stats.update(completed=0, complete_failed=0, would_complete=0)
        self.sample: list[dict[str, str]] = []

    def use(self, reconciler: Reconciler | None) -> None:
        """Judge rows by what HubSpot holds (``reconcile``) instead of the state's digests."""
        self.reconciler = reconciler
        self.plan.judge = reconciler.judge if reconciler is not None else None

    def hooks(self) -> RowHooks:
        return RowHooks(
            unchanged=self.plan.unchanged,
            confirmed=self.confirmed,
            refused=self.refused,
            prepare=self.prepare,
        )

    def prepare(self, winners: Callable[[], Iterator[WriteItem]]) -> None:
        """A reconcile reads HubSpot first; then the send plan (its verdicts or the state's)."""
        if self.reconciler is not None:
            self.reconciler.start(winners)
        self.plan.prepare(winners)
        if self.reconciler is not None:
            self.reconciler.log_verdicts()

    # -- pipeline hooks after prepare ----------------------------------------------------------------

    def confirmed(self, item: WriteItem, object_id: str | None) -> None:
        key = event_key(item.key)
        self.state.record_confirmed(key, payload_digest(item.payload), object_id)
        if item.payload.get("eventCancelled") is True:
            self.state.record_cancelled(key)
        self._maybe_checkpoint()

    def refused(self, item: WriteItem) -> None:
        self.state.record_failed(event_key(item.key))
        self._maybe_checkpoint()

    def _maybe_checkpoint(self) -> None:
        now = time.monotonic()
        if now - self.last_checkpoint >= self.sync.checkpoint_interval_s:
            self.last_checkpoint = now
            self.state.checkpoint()

    # -- after the rows ---------------------------------------------------------------------------

    def after_rows(
        self,
        client: HubSpotApi | None,
        report: UpsertReport,
        stats: Callable[[], Mapping[str, int]] | None,
    ) -> None:
        """``/complete``, then cancel or delete; their requests are added to the report's."""
        before = dict(stats()) if stats is not None else {}
        self.complete_events(client)
        self.act_on_missing(client)
        if stats is not None:  # the summary's requests include /complete, cancels and deletes
            report.add_client_stats({k: v - before.get(k, 0) for k, v in stats().items()})

    def complete_events(self, client: HubSpotApi | None) -> None:
        """``/complete`` once for each completed event HubSpot holds and the state has not marked."""
        self.plan.completions.seek(0)
        for line in self.plan.completions:
            account, event, start, end = json.loads(line)
            key = (account, event)
            entry = self.state.entry(key)
            if entry is None or entry.outcome != "confirmed" or entry.completed:
                continue  # not (yet) in HubSpot as sent: the next run completes it
            if self.dry_run:
                self.stats["would_complete"] += 1
                continue
            if client is None:
                raise ValueError("a client is required unless dry_run")
            if not start or not end:
                self.stats["complete_failed"] += 1
                self.log.warning(
                    "Event %s/%s is completed but has no start and end: /complete skipped.", *key
                )
                continue
            if complete_event(client, key, start, end) == "completed":
                self.state.record_completed(key)
                self.stats["completed"] += 1
            else:
                self.stats["complete_failed"] += 1

    def act_on_missing(self, client: HubSpotApi | None) -> None:
        """Cancel or delete the missing events, when the guardrails allow it (or list them)."""
        decision, missing = self.plan.decision, self.plan.missing
        if decision is None or missing is None or not decision.proceed or missing.count == 0:
            return
        verb = "cancel" if decision.action == "cancel" else "delete"
        if self.dry_run:
            self.stats["would_act"] = missing.count
            for n, key in enumerate(missing):
                self._note_sample(key)
                if n < _LOG_KEYS:
                    self.log.info("Dry run: would %s %s/%s.", verb, *key)
            return
        if client is None:
            raise ValueError("a client is required unless dry_run")
        if decision.action == "cancel":
            self._cancel(client, missing)
        else:
            self._delete(client, missing)

    def _cancel(self, client: HubSpotApi, missing: MissingKeys) -> None:
        for key in missing:
            self._note_sample(key)
            try:
                answer = cancel_event(client, key)
            except _FATAL:
                raise  # nothing else can work either
            except HubSpotError as exc:
                self.stats["missing_failed"] += 1
                self.log.warning("Cancelling %s/%s failed: %s", key[0], key[1], exc)
                continue
            self.stats["cancelled"] += 1
            if answer == "not_found":
                self.state.record_deleted(key)  # gone from HubSpot: as good as cancelled, forget it
                continue
            self.state.record_cancelled(key)
            self.state.mark_pending([key])  # HubSpot holds it cancelled, not the confirmed payload

    def _delete(self, client: HubSpotApi, missing: MissingKeys) -> None:
        def gone(key: EventKey) -> None:
            self._note_sample(key)
            self.state.record_deleted(key)

        outcome = delete_events(client, missing, app_id=self.state.app_id, on_gone=gone)
        if outcome.app_id is not None:
            self.state.remember_app_id(outcome.app_id)
        self.stats["deleted"] += outcome.gone
        self.stats["missing_failed"] += outcome.failed
        for sample in outcome.sample_errors:
            self.log.warning("Deleting an event failed: %s", sample)

    def _note_sample(self, key: EventKey) -> None:
        if len(self.sample) < _SAMPLE:
            self.sample.append({"externalAccountId": key[0], "externalEventId": key[1]})

    def summary(self) -> SyncSummary:
        decision = self.plan.decision
        return {
            "state_path": self.state.location,
            "existed": self.state.existed,
            "rebuilt": self.state.rebuilt,
            "interrupted_run": self.state.interrupted_run,
            "action": self.sync.on_missing,
            "missing": decision.missing if decision else 0,
            "known": decision.known if decision else 0,
            "limit": decision.limit if decision else None,
            "decision": decision.reason if decision else "ignore",
            "message": decision.message if decision else "on_missing='ignore'",
            "cancelled": self.stats["cancelled"],
            "deleted": self.stats["deleted"],
            "missing_failed": self.stats["missing_failed"],
            "would_act": self.stats["would_act"],
            "sample_missing": list(self.sample),
            "completed": self.stats["completed"],
            "complete_failed": self.stats["complete_failed"],
            "would_complete": self.stats["would_complete"],
        }

    def abort(self) -> None:
        """After a failure: keep what HubSpot confirmed (rows sent and unanswered stay pending)."""
        try:
            self.state.close_after_failure(sent=self.plan.sending, log=self.log)
        finally:
            self.plan.completions.close()

    def finish(self) -> None:
        """Publish the state (never on a dry run) and release it."""
        try:
            if self.dry_run:
                self.state.close()
            else:
                self.state.commit()
        finally:
            self.plan.completions.close()


def run_sync(
    rows: Iterable[SourceRow],
    mapper: EventMapper,
    client: HubSpotApi | None,
    report: UpsertReport,
    *,
    options: WriteOptions,
    state: SyncState,
    sync: SyncOptions | None = None,
    spool_dir: str | Path | None = None,
    log: SyncLogger | None = None,
    stats: Callable[[], Mapping[str, int]] | None = None,
    headroom: Callable[[], str | None] | None = None,
    reconciler: Reconciler | None = None,
) -> SyncSummary:
    """Upsert the rows that changed since HubSpot last confirmed them, then complete, cancel or
    delete as the source and ``sync`` say; ``state`` is published and released in every case.

    :param rows: source rows.
    :param mapper: turns a source row into a HubSpot event input, or errors.
    :param client: the HubSpot client (``None`` only on a dry run).
    :param report: counts every row (``unchanged`` for rows not sent) and writes the report files.
    :param options: the pipeline's options (batch size, concurrency, dry run...).
    :param state: the opened (locked) sync state; committed at the end, closed on failure.
    :param sync: ``on_missing`` and its guardrails.
    :param reconciler: judge rows by what HubSpot holds, not the state's digests (``reconcile``).
    :raises MissingGuardrailError: too many events left the source; nothing was sent.
    :raises InputError: bad input, raised before anything is sent.
    """
    watching = WatchingMapper(mapper)
    tracker = _Tracker(
        SendPlan(state, sync or SyncOptions(), watching, dry_run=options.dry_run, log=log or _log)
    )
    tracker.use(reconciler)
    extras: RunExtras = {"spool_dir": spool_dir, "log": tracker.log, "stats": stats, "headroom": headroom}
    extras["hooks"] = tracker.hooks()
    try:
        run_writes(rows, WatchedEventKind(watching), client, report, options=options, **extras)
        tracker.after_rows(client, report, stats)
    except BaseException:
        tracker.abort()
        raise
    tracker.finish()
    return tracker.summary()
