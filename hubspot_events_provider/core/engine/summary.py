"""The run summary's contract: its keys and types, and the stages a row error comes from.

:meth:`~hubspot_events_provider.core.engine.report.UpsertReport.summary` builds an :class:`UpsertSummary`
and pushes it to XCom; :class:`~hubspot_events_provider.operators.check.MarketingEventsUpsertCheckOperator`
reads it back. Both import the names from here, so the producer and the consumer cannot drift.
"""

# No ``from __future__ import annotations``: TypedDict reads NotRequired[...] from real
# annotations only, and __required_keys__ is part of the contract the tests hold.
from typing import NotRequired, TypedDict

__all__ = [
    "ERROR_STAGES",
    "STAGE_HUBSPOT",
    "STAGE_SUPERSEDED",
    "STAGE_VALIDATION",
    "DriftSample",
    "ReconcileSummary",
    "RowStateSummary",
    "SampleError",
    "SyncSummary",
    "UpsertSummary",
]

STAGE_VALIDATION = "validation"
"""Refused before sending (mapping or validation): counted as ``rejected``."""
STAGE_HUBSPOT = "hubspot"
"""Refused by HubSpot: counted as ``failed``."""
STAGE_SUPERSEDED = "superseded"
"""Replaced by a later row with the same key: counted as ``superseded``, not an error."""
ERROR_STAGES = (STAGE_VALIDATION, STAGE_HUBSPOT)
"""The stages whose rows are errors (``numErrors == rejected + failed``)."""


class SampleError(TypedDict):
    """One rejected row as shown in the summary (message and field cut to a bounded length)."""

    position: int
    line: int | None
    stage: str
    category: str
    field: str | None
    message: str
    ids: NotRequired[dict[str, str]]
    """The row's external ids (e.g. ``externalAccountId``, ``externalEventId``) when they were valid."""


class SyncSummary(TypedDict):
    """What a run with a sync state (``state_path``) did beyond its rows (the summary's ``sync``).

    ``missing`` counts the known events of the run's accounts that left the source; ``action`` is
    ``on_missing``; ``decision`` is the guardrail's reason (``ok``, ``nothing_missing``, ``ignore``,
    ``empty_source``, ``unidentified_rows``, ``max_deletes``, ``max_delete_fraction``) and ``message``
    its sentence with the counts; ``cancelled``/``deleted``/``missing_failed`` what was done
    (``would_act`` on a dry run); ``sample_missing`` the first ids acted (or to be acted) on.
    """

    state_path: str
    existed: bool
    rebuilt: bool
    interrupted_run: str | None
    action: str
    missing: int
    known: int
    limit: int | None
    decision: str
    message: str
    cancelled: int
    deleted: int
    missing_failed: int
    would_act: int
    sample_missing: list[dict[str, str]]
    completed: int
    complete_failed: int
    would_complete: int


class RowStateSummary(TypedDict):
    """What an attendance or delete run with a sync state (``state_path``) did with it (the
    summary's ``sync``).

    ``known`` counts the rows the state holds after the run (participations, or events); ``sent``
    the rows sent (attendance: changed, new or failed before; delete: every valid row); ``forgotten``
    the events a delete removed from the state (0 for attendance); ``message`` says it in a sentence.
    """

    state_path: str
    existed: bool
    rebuilt: bool
    interrupted_run: str | None
    known: int
    sent: int
    forgotten: int
    message: str


class DriftSample(TypedDict):
    """One event a reconcile found drifted: its ids, ``verdict`` (``differed``, ``missing`` or
    ``dropped``: only custom properties HubSpot drops, which re-sending cannot fix) and the fields
    HubSpot does not hold as the source says (``customProperties.<name>`` for a custom property)."""

    externalAccountId: str
    externalEventId: str
    verdict: str
    fields: list[str]


class ReconcileSummary(TypedDict):
    """What a ``reconcile=True`` run read from HubSpot and found (the summary's ``reconcile``).

    ``read``: the app's events the reads saw (listed, or read singly); ``listed``: every event the
    list showed (all apps). Of the valid source rows: ``matched`` (HubSpot holds them as the source
    says), ``differed`` (HubSpot holds another value: sent), ``missing`` (HubSpot holds no such
    event: sent), ``lagging`` (HubSpot's read lag still shows an older copy than the last confirmed
    write: not sent), ``dropped`` (only custom properties HubSpot drops differ: not sent).
    ``drifted`` is ``differed + missing`` (what a check's ``max_drift`` gates on). ``pages``,
    ``single_reads`` and ``requests`` (every read, app look-up included) are what the reads cost.
    """

    read: int
    listed: int
    matched: int
    differed: int
    missing: int
    lagging: int
    dropped: int
    drifted: int
    pages: int
    single_reads: int
    requests: int
    app_id: int | None
    sample: list[DriftSample]


class UpsertSummary(TypedDict):
    """The bounded, JSON-safe summary of one run.

    Invariant: ``upserted + unchanged + rejected + failed + superseded == total`` (``would_upsert``
    takes the place of ``upserted`` on a dry run; ``unchanged`` is present only when rows were
    skipped as unchanged).
    """

    total: int
    upserted: int
    rejected: int
    failed: int
    superseded: int
    numErrors: int
    error_rate: float
    errors_by_category: dict[str, int]
    sample_errors: list[SampleError]
    batches: int
    splits: int
    isolation_requests: int
    requests: int
    retries: int
    rate_limited: int
    rejected_path: str | None
    results_path: str | None
    started_at: str
    completed_at: str | None
    dry_run: bool
    would_upsert: NotRequired[int]
    unchanged: NotRequired[int]
    completions: NotRequired[dict[str, object]]
    """Attendance runs with ``complete_events``: ``events``, ``completed``, ``skipped``, ``failed``
    and ``outcomes`` (the first ones, each ``externalAccountId``, ``externalEventId``, ``status``,
    ``reason``, ``startDateTime``, ``endDateTime``)."""
    deleted: NotRequired[int]
    """Delete runs: events deleted (or already gone), the same number as ``upserted``."""
    sync: NotRequired[SyncSummary | RowStateSummary]
    """Runs with a sync state: for the upsert, lifecycle calls and what happened to events that left
    the source (:class:`~hubspot_events_provider.core.engine.summary.SyncSummary`); for attendance
    and deletes, :class:`~hubspot_events_provider.core.engine.summary.RowStateSummary`."""
    reconcile: NotRequired[ReconcileSummary]
    """``reconcile=True`` runs: what HubSpot holds compared with the source, and the reads' cost."""
