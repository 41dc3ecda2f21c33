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

import itertools
import json
import logging
import tempfile
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from hubspot_events_provider.core.engine.contract import Mapped, RowHooks, RowMapper
from hubspot_events_provider.core.engine.report import UpsertReport
from hubspot_events_provider.core.engine.run import Logger, WriteOptions, run_writes
from hubspot_events_provider.core.engine.summary import SyncSummary
from hubspot_events_provider.core.errors import (
    HubSpotAuthError,
    HubSpotDailyLimitError,
    HubSpotError,
    HubSpotMissingScopesError,
)
from hubspot_events_provider.core.kinds.events.api import (
    cancel_event,
    complete_event,
    delete_events,
)
from hubspot_events_provider.core.kinds.events.kind import EventKind
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.identity import Key, WriteItem
from hubspot_events_provider.core.rows.sources import SourceRow
from hubspot_events_provider.core.sync.guardrails import DeleteDecision, decide_missing
from hubspot_events_provider.core.sync.state import (
    MissingKeys,
    StateError,
    SyncState,
    payload_digest,
)

__all__ = ["MissingGuardrailError", "OnMissing", "SyncLogger", "SyncOptions", "run_sync"]

OnMissing = Literal["ignore", "cancel", "delete"]
EventKey = tuple[str, str]
_CHUNK = 1000
_SAMPLE = 20
_LOG_KEYS = 100
_log = logging.getLogger(__name__)
_FATAL = (HubSpotAuthError, HubSpotMissingScopesError, HubSpotDailyLimitError)


class SyncLogger(Logger, Protocol):
    """The pipeline's logger, plus warnings (stdlib ``logging`` and Airflow's task logger fit)."""

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


class MissingGuardrailError(StateError):
    """A guardrail stopped the run before anything was sent (too many events left the source).

    :param decision: the guardrail's decision, with the counts.
    """

    def __init__(self, message: str, decision: DeleteDecision) -> None:
        super().__init__(message)
        self.decision = decision


@dataclass(frozen=True)
class SyncOptions:
    """What to do beyond sending changed rows.

    :param on_missing: ``ignore``, ``cancel`` or ``delete`` the known events of the run's accounts
        that are no longer in the source.
    :param max_deletes: most events one run may cancel or delete (``None``: no count limit).
    :param max_delete_fraction: most events one run may cancel or delete, as a fraction of the known
        events of the run's accounts (default 0.1; ``None``: no fraction limit).
    :param checkpoint_interval_s: publish confirmed outcomes at least this often during long runs.
    """

    on_missing: OnMissing = "ignore"
    max_deletes: int | None = None
    max_delete_fraction: float | None = 0.1
    checkpoint_interval_s: float = 300.0

    def __post_init__(self) -> None:
        # decide_missing validates the action and the limits; fail at construction, not mid-run.
        decide_missing(
            action=self.on_missing,
            missing=0,
            known=0,
            source_keys=0,
            max_deletes=self.max_deletes,
            max_delete_fraction=self.max_delete_fraction,
        )
        if self.checkpoint_interval_s <= 0:
            raise ValueError("checkpoint_interval_s must be positive")


class _WatchingMapper:
    """The event mapper, also noting the keys of invalid rows (they are still in the source, so
    their events are not "missing") and counting invalid rows without valid ids."""

    def __init__(self, mapper: EventMapper) -> None:
        self._mapper = mapper
        self.invalid_keys: list[EventKey] = []
        self.unidentified = 0

    def map_row(self, row: Any) -> Mapped:
        mapped = self._mapper.map_row(row)
        if mapped.payload is None:
            if mapped.key is None:
                self.unidentified += 1
            else:
                self.invalid_keys.append(mapped.key)
        return mapped

    def unmapped_keys(self, keys: Iterable[Any]) -> set[str]:
        return self._mapper.unmapped_keys(keys)

    def unmapped_error(
        self, keys: Iterable[Any], *, source: str | None = None, line: int | None = None
    ) -> Exception:
        return self._mapper.unmapped_error(keys, source=source, line=line)


class _WatchedEventKind(EventKind):
    """:class:`EventKind` whose mapper notes invalid rows' keys."""

    def __init__(self, mapper: _WatchingMapper) -> None:
        self._watching = mapper

    @property
    def mapper(self) -> RowMapper:
        return self._watching


def _event_key(key: Key) -> EventKey:
    return (key[0], key[1])


def _crc(key: Key) -> int:
    return zlib.crc32("\x1f".join(key).encode("utf-8"))


class _Tracker:
    """The state's side of one run: the pipeline's hooks, then lifecycle calls and missing events."""

    def __init__(
        self, state: SyncState, sync: SyncOptions, mapper: _WatchingMapper, *, dry_run: bool, log: SyncLogger
    ) -> None:
        self.state = state
        self.sync = sync
        self.mapper = mapper
        self.dry_run = dry_run
        self.log = log
        self.flags = bytearray()  # 1 = unchanged, per winner in sending order
        self.crcs = array("I")  # the winner's key checksum: the pipeline's order must be prepare's
        self.position = 0
        self.sending = False
        self.last_checkpoint = time.monotonic()
        self.missing: MissingKeys | None = None
        self.decision: DeleteDecision | None = None
        self.completions = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self.stats = {"cancelled": 0, "deleted": 0, "missing_failed": 0, "would_act": 0}
        self.stats.update(completed=0, complete_failed=0, would_complete=0)
        self.sample: list[dict[str, str]] = []

    def hooks(self) -> RowHooks:
        return RowHooks(
            unchanged=self.unchanged, confirmed=self.confirmed, refused=self.refused, prepare=self.prepare
        )

    # -- pipeline hooks ---------------------------------------------------------------------------

    def prepare(self, winners: Callable[[], Iterator[WriteItem]]) -> None:
        """Unchanged flags and pending marks, then missing events and guardrails (a stop raises
        before the checkpoint: nothing is sent and the pending marks are never published)."""
        with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as keys:
            to_send = self._flag_rows(winners(), keys if self.sync.on_missing != "ignore" else None)
            if self.sync.on_missing != "ignore":
                keys.seek(0)
                self._decide_missing(tuple(json.loads(line)) for line in keys)
        if to_send and not self.dry_run:
            self.state.checkpoint()  # the pending marks are public before the first request
            self.sending = True
        self.log.info(
            "Sync state %s: %d row(s) unchanged since HubSpot last confirmed them, %d to send.",
            self.state.location,
            len(self.flags) - to_send,
            to_send,
        )

    def _decide_missing(self, source_keys: Iterator[tuple[Any, ...]]) -> None:
        seen = itertools.chain((_event_key(k) for k in source_keys), self.mapper.invalid_keys)
        self.missing = missing = self.state.missing_keys(
            seen, exclude_cancelled=self.sync.on_missing == "cancel"
        )
        decision = decide_missing(
            action=self.sync.on_missing,
            missing=missing.count,
            known=missing.known,
            source_keys=missing.source_keys,
            max_deletes=self.sync.max_deletes,
            max_delete_fraction=self.sync.max_delete_fraction,
        )
        if decision.proceed and missing.count and self.mapper.unidentified:
            decision = DeleteDecision(
                decision.action,
                False,
                "unidentified_rows",
                decision.missing,
                decision.known,
                decision.source_keys,
                decision.limit,
                f"{self.mapper.unidentified} source row(s) have no valid externalAccountId/externalEventId, "
                f"so which of the {missing.count} missing event(s) really left the source is unknown: "
                "nothing was cancelled or deleted.",
            )
        self.decision = decision
        self.log.info("on_missing=%r: %s", self.sync.on_missing, decision.message)
        if decision.reason in ("max_deletes", "max_delete_fraction") and not self.dry_run:
            raise MissingGuardrailError(
                f"sync state {self.state.location}: {decision.message} The run stopped before sending "
                "anything: check the source, or raise max_deletes / max_delete_fraction (or set "
                "on_missing='ignore') if the events really left it.",
                decision,
            )

    def _flag_rows(self, winners: Iterator[WriteItem], keys: IO[str] | None) -> int:
        """Flag every winner unchanged or not (one query per chunk); mark the others pending; write
        every key to ``keys`` (for the missing-events check, which needs them all in one go)."""
        to_send = 0
        while chunk := list(itertools.islice(winners, _CHUNK)):
            if keys is not None:
                keys.writelines(json.dumps(item.key) + "\n" for item in chunk)
            probes = [(_event_key(item.key), payload_digest(item.payload)) for item in chunk]
            flags = self.state.unchanged_flags(probes)
            changed = [key for (key, _digest), flag in zip(probes, flags, strict=True) if not flag]
            to_send += len(changed)
            if changed and not self.dry_run:
                self.state.mark_pending(changed)
            self.flags.extend(flags)
            self.crcs.extend(_crc(item.key) for item in chunk)
            for item in chunk:
                if item.payload.get("eventCompleted") is True:
                    self._note_completion(item)
        return to_send

    def _note_completion(self, item: WriteItem) -> None:
        entry = self.state.entry(_event_key(item.key))
        if entry is not None and entry.completed:
            return  # /complete is called once per event, not on every rerun
        record = [
            item.key[0],
            item.key[1],
            item.payload.get("startDateTime"),
            item.payload.get("endDateTime"),
        ]
        self.completions.write(json.dumps(record) + "\n")

    def unchanged(self, item: WriteItem) -> bool:
        index = self.position
        self.position += 1
        if index >= len(self.flags) or self.crcs[index] != _crc(item.key):
            raise StateError("the write pipeline sent rows in another order than it prepared them")
        return bool(self.flags[index])

    def confirmed(self, item: WriteItem, object_id: str | None) -> None:
        key = _event_key(item.key)
        self.state.record_confirmed(key, payload_digest(item.payload), object_id)
        if item.payload.get("eventCancelled") is True:
            self.state.record_cancelled(key)
        self._maybe_checkpoint()

    def refused(self, item: WriteItem) -> None:
        self.state.record_failed(_event_key(item.key))
        self._maybe_checkpoint()

    def _maybe_checkpoint(self) -> None:
        now = time.monotonic()
        if now - self.last_checkpoint >= self.sync.checkpoint_interval_s:
            self.last_checkpoint = now
            self.state.checkpoint()

    # -- after the rows ---------------------------------------------------------------------------

    def complete_events(self, client: Any) -> None:
        """``/complete`` once for each completed event HubSpot holds and the state has not marked."""
        self.completions.seek(0)
        for line in self.completions:
            account, event, start, end = json.loads(line)
            key = (account, event)
            entry = self.state.entry(key)
            if entry is None or entry.outcome != "confirmed" or entry.completed:
                continue  # not (yet) in HubSpot as sent: the next run completes it
            if self.dry_run:
                self.stats["would_complete"] += 1
                continue
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

    def act_on_missing(self, client: Any) -> None:
        """Cancel or delete the missing events, when the guardrails allow it (or list them)."""
        decision, missing = self.decision, self.missing
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
        if decision.action == "cancel":
            self._cancel(client, missing)
        else:
            self._delete(client, missing)

    def _cancel(self, client: Any, missing: MissingKeys) -> None:
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

    def _delete(self, client: Any, missing: MissingKeys) -> None:
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
        decision = self.decision
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
            if self.sending:
                self.state.checkpoint()
        except (StateError, OSError) as exc:
            self.log.error(
                "Could not save the sync state after the failure (%s); the last checkpoint stays.", exc
            )
        finally:
            self.state.close()
            self.completions.close()

    def finish(self) -> None:
        """Publish the state (never on a dry run) and release it."""
        try:
            if self.dry_run:
                self.state.close()
            else:
                self.state.commit()
        finally:
            self.completions.close()


def run_sync(
    rows: Iterable[SourceRow],
    mapper: EventMapper,
    client: Any,
    report: UpsertReport,
    *,
    options: WriteOptions,
    state: SyncState,
    sync: SyncOptions | None = None,
    spool_dir: str | Path | None = None,
    log: SyncLogger | None = None,
    stats: Callable[[], Mapping[str, int]] | None = None,
    headroom: Callable[[], str | None] | None = None,
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
    :raises MissingGuardrailError: too many events left the source; nothing was sent.
    :raises InputError: bad input, raised before anything is sent.
    """
    sync = sync or SyncOptions()
    logger = log or _log
    watching = _WatchingMapper(mapper)
    tracker = _Tracker(state, sync, watching, dry_run=options.dry_run, log=logger)
    try:
        run_writes(
            rows,
            _WatchedEventKind(watching),
            client,
            report,
            options=options,
            spool_dir=spool_dir,
            log=logger,
            stats=stats,
            headroom=headroom,
            hooks=tracker.hooks(),
        )
        before = dict(stats()) if stats is not None else {}
        tracker.complete_events(client)
        tracker.act_on_missing(client)
        if stats is not None:  # the summary's requests include /complete, cancels and deletes
            report.add_client_stats({k: v - before.get(k, 0) for k, v in stats().items()})
    except BaseException:
        tracker.abort()
        raise
    tracker.finish()
    return tracker.summary()
