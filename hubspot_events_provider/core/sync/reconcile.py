"""Reconcile: HubSpot as the truth. Read what HubSpot holds, send only the rows it does not hold.

A sync state says what HubSpot *confirmed*; it cannot see a marketer renaming or deleting an event
in HubSpot. :class:`Reconciler` reads the app's events from HubSpot before anything is sent and
compares each source row with its HubSpot copy field by field, with the read-back's own
:func:`~hubspot_events_provider.core.kinds.events.readback.compare_event`::

    start:  the paged list (100 per request) -> copies by externalEventId, the app's only
            the app's id: the state's, or a listed copy of an objectId the state holds, or a search
    judge:  a row's copy: by the state's objectId; else by externalEventId when only one copy and
            one source account have it; else (ambiguous, or absent from the list while the state
            says HubSpot confirmed it) read once by the external ids. No copy: missing.
            compare_event: matched, or differed (named fields).
    lag:    a copy older than the state's last confirmed write, or an event confirmed after the
            freshest write the list shows and not long ago, is HubSpot's read lag: not re-sent.

Matched and lagging rows are ``unchanged``; differed and missing ones are sent. With a state,
:class:`~hubspot_events_provider.core.sync.prepare.SendPlan` takes the verdicts instead of the
state's digests and a matched row is recorded confirmed (the state is rewritten from HubSpot);
without one, :func:`run_reconciled` plugs the reconciler into the pipeline alone.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Unpack

from hubspot_events_provider.core.engine.contract import RowHooks
from hubspot_events_provider.core.engine.options import RunExtras
from hubspot_events_provider.core.engine.report import WriteReport
from hubspot_events_provider.core.engine.run import Logger, WriteOptions, run_writes
from hubspot_events_provider.core.engine.summary import DriftSample, ReconcileSummary
from hubspot_events_provider.core.http.answers import HubSpotResponse
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.kinds.events.api import EventKey, find_app_id
from hubspot_events_provider.core.kinds.events.holdings import (
    PAGE_SIZE,
    Holdings,
    instant_of,
    read_holdings,
    read_one,
)
from hubspot_events_provider.core.kinds.events.kind import EventKind
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.kinds.events.readback import Mismatch, compare_event
from hubspot_events_provider.core.rows.identity import WriteItem
from hubspot_events_provider.core.rows.sources import SourceRow
from hubspot_events_provider.core.sync.digest import payload_digest
from hubspot_events_provider.core.sync.order import PreparedOrder
from hubspot_events_provider.core.sync.state import SyncState

__all__ = ["ReconcileOptions", "Reconciler", "run_reconciled"]

_log = logging.getLogger(__name__)
_CHUNK = 1000
_SAMPLE = 20
_APP_LOOKUPS = 5
#: Verdicts, in the summary's words.
MATCHED, DIFFERED, MISSING, LAGGING, DROPPED = "matched", "differed", "missing", "lagging", "dropped"
_NOT_SENT = frozenset({MATCHED, LAGGING, DROPPED})


@dataclass(frozen=True)
class ReconcileOptions:
    """How a reconcile reads HubSpot.

    :param lag_horizon_s: an event the state confirmed less than this long ago and absent from
        HubSpot's reads may be HubSpot's read lag ("a few minutes"), when the list shows nothing
        written after it: it is not re-sent.
    :param max_single_reads: most reads of single events by external ids (absent from the list, or
        ambiguous there); past it such a row is sent (an upsert is idempotent).
    :param page_size: events per list request (1 to 100).
    """

    lag_horizon_s: float = 900.0
    max_single_reads: int = 100
    page_size: int = PAGE_SIZE

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {PAGE_SIZE}")
        if self.max_single_reads < 0 or self.lag_horizon_s < 0:
            raise ValueError("max_single_reads and lag_horizon_s must not be negative")


class _Counting:
    """The client, counting the requests the reads make (the summary's ``requests``)."""

    def __init__(self, client: HubSpotApi) -> None:
        self._client = client
        self.requests = 0

    @property
    def config(self) -> ClientConfig:
        return self._client.config

    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> HubSpotResponse:
        self.requests += 1
        return self._client.request(method, path, params=params, json=json)

    def expect_requests(self, total: int) -> None:
        self._client.expect_requests(total)

    def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
        return self._client.upsert_events(inputs)

    def get_event(self, external_event_id: str, external_account_id: str) -> dict[str, Any]:
        return self._client.get_event(external_event_id, external_account_id)

    def iter_events(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        return self._client.iter_events(page_size)


class Reconciler:
    """One reconcile: HubSpot's copies read once, then a verdict per winning row.

    :param client: the HubSpot client (reads happen on dry runs too).
    :param state: the run's sync state, if any: its objectIds match copies, its confirmation times
        tell HubSpot's lag from drift, and matched rows are recorded confirmed in it.
    :param options: how to read.
    :param log: logger.
    """

    def __init__(
        self,
        client: HubSpotApi,
        *,
        state: SyncState | None = None,
        options: ReconcileOptions | None = None,
        log: Logger | None = None,
    ) -> None:
        self.client = _Counting(client)
        self.state = state
        self.options = options or ReconcileOptions()
        self.log = log or _log
        self.holdings = Holdings()
        self.app_id: int | None = None
        self.shared_ids: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.single_reads = 0
        self.found_singly = 0
        self.sample: list[DriftSample] = []
        self.order = PreparedOrder()  # per winner in sending order: unchanged or to send

    # -- before the rows are judged -----------------------------------------------------------------

    def start(self, winners: Callable[[], Iterator[WriteItem]]) -> None:
        """Read the list, learn the app's id and which external ids several source accounts share."""
        self.holdings = read_holdings(self.client, page_size=self.options.page_size)
        accounts: dict[str, str] = {}
        for item in winners():
            if accounts.setdefault(item.key[1], item.key[0]) != item.key[0]:
                self.shared_ids.add(item.key[1])
        self.app_id = self._find_app_id(winners)
        self.log.info(
            "Reconcile: HubSpot listed %d event(s) in %d request(s); %d of this app (appId %s).",
            self.holdings.listed,
            self.holdings.pages,
            self._app_events(),
            self.app_id if self.app_id is not None else "unknown",
        )

    def _find_app_id(self, winners: Callable[[], Iterator[WriteItem]]) -> int | None:
        """The state's appId; else the app of a listed copy whose objectId the state holds; else
        HubSpot's search for the first few source events (at most 5 requests)."""
        state = self.state
        if state is not None and state.app_id is not None:
            return state.app_id
        app = None
        if state is not None:
            entries = (state.entry((i.key[0], i.key[1])) for i in itertools.islice(winners(), _CHUNK))
            app = self.holdings.app_of_object(e.object_id for e in entries if e is not None)
        if app is None and self.holdings.listed:
            keys = ((i.key[0], i.key[1]) for i in winners())
            app = find_app_id(self.client, keys, max_lookups=_APP_LOOKUPS)
        if app is not None and state is not None:
            state.remember_app_id(app)
        return app

    def _app_events(self) -> int:
        apps = self.holdings.apps.values()
        return len(apps) if self.app_id is None else sum(1 for a in apps if a == str(self.app_id))

    # -- verdicts -------------------------------------------------------------------------------------

    def judge(self, items: Sequence[WriteItem]) -> list[bool]:
        """One flag per row: ``True`` when HubSpot holds it (or its lag hides our last write)."""
        flags = []
        for item in items:
            verdict, object_id = self._verdict(item)
            self.counts[verdict] += 1
            if verdict == MATCHED and self.state is not None:
                self._confirm(item, object_id)
            flags.append(verdict in _NOT_SENT)
        return flags

    def _verdict(self, item: WriteItem) -> tuple[str, str | None]:
        key: EventKey = (item.key[0], item.key[1])
        copy = self._copy(key)
        if copy is None:
            return self._absent(key), None
        found = compare_event(item.payload, copy)
        object_id = None if copy.get("objectId") is None else str(copy["objectId"])
        if not found:
            return MATCHED, object_id
        if self._older_than_ours(copy, key):
            return LAGGING, object_id
        verdict = DROPPED if all(m.dropped for m in found) else DIFFERED
        self._note(key, verdict, found)
        return verdict, object_id

    def _copy(self, key: EventKey) -> dict[str, Any] | None:
        """HubSpot's copy of the event: listed (matched by objectId or a unique external id), else
        read by its external ids when the list cannot tell or misses it."""
        entry = self.state.entry(key) if self.state is not None else None
        copies = self.holdings.copies(key[1], self.app_id)
        if entry is not None and entry.object_id is not None:
            listed = [c for c in copies if c["objectId"] == entry.object_id]
            if listed:
                return listed[0]
        elif len(copies) == 1 and key[1] not in self.shared_ids:
            return copies[0]
        if copies or (entry is not None and entry.outcome == "confirmed"):
            return self._read_one(key)  # the list cannot tell which copy, or HubSpot's lag may hide it
        # Not listed and not confirmed by a state: nothing written that the lag could hide (without
        # a state a write moments ago is unknown; it is re-sent, which an upsert makes harmless).
        return None

    def _read_one(self, key: EventKey) -> dict[str, Any] | None:
        if self.single_reads >= self.options.max_single_reads:
            return None
        self.single_reads += 1
        copy = read_one(self.client, key)
        self.found_singly += copy is not None
        return copy

    def _absent(self, key: EventKey) -> str:
        """Missing, unless the state confirmed it recently and HubSpot's view may predate that."""
        at = self.state.confirmed_at(key) if self.state is not None else None
        if at is not None and time.time() - at < self.options.lag_horizon_s:
            freshest = self.holdings.freshest
            if freshest is None or freshest.timestamp() < at:
                return LAGGING
        self._note(key, MISSING, ())
        return MISSING

    def _older_than_ours(self, copy: Mapping[str, Any], key: EventKey) -> bool:
        """The copy was last updated before our last confirmed write: HubSpot's lag shows an older
        version (a hand edit after our write would be newer)."""
        at = self.state.confirmed_at(key) if self.state is not None else None
        updated = instant_of(copy.get("updatedAt"))
        return at is not None and updated is not None and updated.timestamp() < at

    def _confirm(self, item: WriteItem, object_id: str | None) -> None:
        """Rewrite the state from HubSpot, leaving an entry that already says the same alone (its
        confirmation time is what tells lag from drift next time)."""
        assert self.state is not None  # judge() checks
        key: EventKey = (item.key[0], item.key[1])
        digest = payload_digest(item.payload)
        if not self.state.is_unchanged(key, digest):
            self.state.record_confirmed(key, digest, object_id)

    def _note(self, key: EventKey, verdict: str, found: Iterable[Mismatch]) -> None:
        if len(self.sample) < _SAMPLE:
            self.sample.append(
                {
                    "externalAccountId": key[0],
                    "externalEventId": key[1],
                    "verdict": verdict,
                    "fields": [m.field for m in found],
                }
            )

    # -- the pipeline's hooks when there is no state ----------------------------------------------

    def hooks(self) -> RowHooks:
        """``prepare`` and ``unchanged`` for a run without a sync state."""
        return RowHooks(prepare=self.prepare, unchanged=self.unchanged)

    def prepare(self, winners: Callable[[], Iterator[WriteItem]]) -> None:
        """Read HubSpot, then judge every winner (in sending order)."""
        self.start(winners)
        rows = winners()
        while chunk := list(itertools.islice(rows, _CHUNK)):
            self.order.prepare(chunk, self.judge(chunk))
        self.log_verdicts()

    def unchanged(self, item: WriteItem) -> bool:
        return self.order.unchanged(item)

    # -- what the run says ------------------------------------------------------------------------

    def log_verdicts(self) -> None:
        c = self.counts
        self.log.info(
            "Reconcile: %d row(s) match HubSpot, %d differ, %d missing, %d hidden by HubSpot's read "
            "lag, %d with dropped custom properties only; the reads cost %d request(s).",
            c[MATCHED],
            c[DIFFERED],
            c[MISSING],
            c[LAGGING],
            c[DROPPED],
            self.client.requests,
        )

    def summary(self) -> ReconcileSummary:
        c = self.counts
        return {
            "read": self._app_events() + self.found_singly,
            "listed": self.holdings.listed,
            "matched": c[MATCHED],
            "differed": c[DIFFERED],
            "missing": c[MISSING],
            "lagging": c[LAGGING],
            "dropped": c[DROPPED],
            "drifted": c[DIFFERED] + c[MISSING],
            "pages": self.holdings.pages,
            "single_reads": self.single_reads,
            "requests": self.client.requests,
            "app_id": self.app_id,
            "sample": list(self.sample),
        }


def run_reconciled(
    rows: Iterable[SourceRow],
    mapper: EventMapper,
    client: HubSpotApi,
    report: WriteReport,
    *,
    options: WriteOptions,
    reconcile: ReconcileOptions | None = None,
    **extras: Unpack[RunExtras],
) -> ReconcileSummary:
    """Upsert only the rows whose HubSpot copy differs or is missing (no sync state: HubSpot is
    the state). On a dry run HubSpot is read and nothing is sent.

    :param client: the HubSpot client (required: the reads need it on dry runs too).
    :param reconcile: how to read HubSpot.
    :returns: the summary's ``reconcile`` entry.
    """
    reconciler = Reconciler(client, options=reconcile, log=extras.get("log"))
    passed: RunExtras = {**extras, "hooks": reconciler.hooks()}
    run_writes(rows, EventKind(mapper), client, report, options=options, **passed)
    return reconciler.summary()
