"""The stable Airflow-free API: write HubSpot marketing events, attendance and deletes from any script
or orchestrator.

Everything a caller needs is importable from here (``from hubspot_events_provider.core import ...``);
these names are a public contract. The modules below this package (``core.http``, ``core.rows``,
``core.engine``, ``core.kinds``, ``core.sync``) are the implementation and may move.

A run: build a :class:`ClientConfig` and an auth, open a :class:`HubSpotClient`, read rows
(:func:`rows_from_events`, :func:`rows_from_file`, :func:`rows_from_cursor`), map them
(:class:`EventMapper`, :class:`AttendanceMapper`, :class:`EventKeyMapper`), and call a run function
(:func:`run_upsert`, :func:`run_attendance`, :func:`run_delete`; with a :class:`SyncState`,
:func:`run_sync`, :func:`run_attendance_sync`, :func:`run_delete_sync`; :func:`run_reconciled` to
compare with what HubSpot holds first) with its :class:`WriteOptions`; the :class:`WriteReport`
accounts for every row and gives the :class:`UpsertSummary`.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The names are loaded on first use (PEP 562): importing one core module must not load every layer
# (requests, the sync state, the kinds). These imports are the one list of what is exported and from
# where; type checkers read them, and __getattr__ below reads them from this file at run time.
if TYPE_CHECKING:
    from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport, WriteReport
    from hubspot_events_provider.core.engine.run import WriteOptions
    from hubspot_events_provider.core.engine.summary import (
        ERROR_STAGES,
        STAGE_HUBSPOT,
        STAGE_SUPERSEDED,
        STAGE_VALIDATION,
        ReconcileSummary,
        RowStateSummary,
        SampleError,
        SyncSummary,
        UpsertSummary,
    )
    from hubspot_events_provider.core.errors import (
        HubSpotAuthError,
        HubSpotDailyLimitError,
        HubSpotError,
        HubSpotMissingScopesError,
        HubSpotNotFoundError,
        HubSpotRateLimitError,
        HubSpotServerError,
        HubSpotTransportError,
        HubSpotValidationError,
        InputError,
        UnmappedFieldsError,
    )
    from hubspot_events_provider.core.http.auth import OAuthAuth, StaticTokenAuth
    from hubspot_events_provider.core.http.client import HubSpotClient, HubSpotResponse
    from hubspot_events_provider.core.http.config import ClientConfig
    from hubspot_events_provider.core.http.protocol import HubSpotApi
    from hubspot_events_provider.core.kinds.attendance.kind import run_attendance
    from hubspot_events_provider.core.kinds.attendance.mapper import AttendanceMapper
    from hubspot_events_provider.core.kinds.deletes.kind import EventKeyMapper, run_delete
    from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
    from hubspot_events_provider.core.kinds.events.mapper import EventMapper
    from hubspot_events_provider.core.kinds.events.readback import Mismatch, compare_event, describe
    from hubspot_events_provider.core.rows.sources import (
        SourceRow,
        rows_from_cursor,
        rows_from_events,
        rows_from_file,
    )
    from hubspot_events_provider.core.sync.reconcile import ReconcileOptions, Reconciler, run_reconciled
    from hubspot_events_provider.core.sync.rowstate import run_attendance_sync, run_delete_sync
    from hubspot_events_provider.core.sync.run import SyncOptions, run_sync
    from hubspot_events_provider.core.sync.state import SyncState

__all__ = [
    "ERROR_STAGES",
    "STAGE_HUBSPOT",
    "STAGE_SUPERSEDED",
    "STAGE_VALIDATION",
    "AttendanceMapper",
    "ClientConfig",
    "EventKeyMapper",
    "EventMapper",
    "HubSpotApi",
    "HubSpotAuthError",
    "HubSpotClient",
    "HubSpotDailyLimitError",
    "HubSpotError",
    "HubSpotMissingScopesError",
    "HubSpotNotFoundError",
    "HubSpotRateLimitError",
    "HubSpotResponse",
    "HubSpotServerError",
    "HubSpotTransportError",
    "HubSpotValidationError",
    "InputError",
    "JsonLinesWriter",
    "Mismatch",
    "OAuthAuth",
    "ReconcileOptions",
    "ReconcileSummary",
    "Reconciler",
    "RowStateSummary",
    "SampleError",
    "SourceRow",
    "StaticTokenAuth",
    "SyncOptions",
    "SyncState",
    "SyncSummary",
    "UnmappedFieldsError",
    "UpsertOptions",
    "UpsertReport",
    "UpsertSummary",
    "WriteOptions",
    "WriteReport",
    "compare_event",
    "describe",
    "rows_from_cursor",
    "rows_from_events",
    "rows_from_file",
    "run_attendance",
    "run_attendance_sync",
    "run_delete",
    "run_delete_sync",
    "run_reconciled",
    "run_sync",
    "run_upsert",
]


def _exports() -> dict[str, str]:
    """Exported name -> its module, from the ``TYPE_CHECKING`` imports of this file."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    guard = next(node for node in tree.body if isinstance(node, ast.If))
    return {
        alias.asname or alias.name: str(node.module)
        for node in guard.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


_WHERE: dict[str, str] = {}


def __getattr__(name: str) -> Any:
    """Import an exported name's module on first use and keep the name here."""
    if not _WHERE:
        _WHERE.update(_exports())
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
