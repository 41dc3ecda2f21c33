"""Before the first request of a sync run: which rows are unchanged, which events left the source.

:class:`SendPlan` is the pipeline's ``prepare`` and ``unchanged`` hooks: it flags every winner
unchanged or not (one state query per chunk), marks the others pending, finds the missing events and
applies the guardrails, then publishes the pending marks (a checkpoint) before anything is sent.
:class:`WatchingMapper` notes the keys of invalid rows, which are still in the source.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from hubspot_events_provider.core.engine.contract import Mapped, RowMapper
from hubspot_events_provider.core.kinds.events.kind import EventKind
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.identity import Key, WriteItem
from hubspot_events_provider.core.sync.digest import payload_digest
from hubspot_events_provider.core.sync.guardrails import DeleteDecision, decide_missing
from hubspot_events_provider.core.sync.missing import MissingKeys
from hubspot_events_provider.core.sync.options import MissingGuardrailError, SyncLogger, SyncOptions
from hubspot_events_provider.core.sync.order import PreparedOrder
from hubspot_events_provider.core.sync.state import SyncState

__all__ = ["EventKey", "SendPlan", "WatchedEventKind", "WatchingMapper", "event_key"]

EventKey = tuple[str, str]
_CHUNK = 1000


class WatchingMapper:
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


class WatchedEventKind(EventKind):
    """:class:`EventKind` whose mapper notes invalid rows' keys."""

    def __init__(self, mapper: WatchingMapper) -> None:
        self._watching = mapper

    @property
    def mapper(self) -> RowMapper:
        return self._watching


def event_key(key: Key) -> EventKey:
    return (key[0], key[1])


class SendPlan:
    """The state's side of one run before sending: the ``prepare`` and ``unchanged`` hooks."""

    def __init__(
        self,
        state: SyncState,
        sync: SyncOptions,
        mapper: WatchingMapper,
        *,
        dry_run: bool,
        log: SyncLogger,
        judge: Callable[[list[WriteItem]], list[bool]] | None = None,
    ) -> None:
        self.state = state
        #: A reconcile's verdicts (``True``: HubSpot holds the row) instead of the state's digests.
        self.judge = judge
        self.sync = sync
        self.mapper = mapper
        self.dry_run = dry_run
        self.log = log
        self.order = PreparedOrder()  # per winner in sending order: unchanged or to send
        self.sending = False
        self.missing: MissingKeys | None = None
        self.decision: DeleteDecision | None = None
        #: The completed events to ``/complete`` after the rows, one JSON line each.
        self.completions = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115

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
            len(self.order.flags) - to_send,
            to_send,
        )

    def _decide_missing(self, source_keys: Iterator[tuple[Any, ...]]) -> None:
        seen = itertools.chain((event_key(k) for k in source_keys), self.mapper.invalid_keys)
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
            probes = [(event_key(item.key), payload_digest(item.payload)) for item in chunk]
            flags = self.judge(chunk) if self.judge is not None else self.state.unchanged_flags(probes)
            changed = [key for (key, _digest), flag in zip(probes, flags, strict=True) if not flag]
            to_send += len(changed)
            if changed and not self.dry_run:
                self.state.mark_pending(changed)
            self.order.prepare(chunk, flags)
            for item in chunk:
                if item.payload.get("eventCompleted") is True:
                    self._note_completion(item)
        return to_send

    def _note_completion(self, item: WriteItem) -> None:
        entry = self.state.entry(event_key(item.key))
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
        return self.order.unchanged(item)
