"""The reconcile core against the sandbox over loopback: HubSpot's read lag is not drift, another
app's or another account's event with the same external id is never taken for ours, a state-less
reconcile tells accounts that share an external id apart by reading them, and ``on_missing``
still acts on what left the source."""

from __future__ import annotations

import pathlib
import time
from typing import Any

import pytest

from hubspot_events_provider.core.engine.report import UpsertReport
from hubspot_events_provider.core.engine.run import WriteOptions
from hubspot_events_provider.core.engine.summary import ReconcileSummary, SyncSummary
from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import rows_from_events
from hubspot_events_provider.core.sync.reconcile import ReconcileOptions, Reconciler, run_reconciled
from hubspot_events_provider.core.sync.run import SyncOptions, run_sync
from hubspot_events_provider.core.sync.state import SyncState
from hubspot_events_provider.sandbox import SandboxServer
from hubspot_events_provider.sandbox.pytest_plugin import TEST_READ_LAG_S
from tests.core import _two_apps
from tests.core._two_apps import OTHER_TOKEN
from tests.core.http.test_client import fast_config
from tests.support import event

sandbox = _two_apps.sandbox
client = _two_apps.client
_OPTIONS = WriteOptions(batch_size=20, max_in_flight=2)


def reconcile(
    client: HubSpotClient, path: pathlib.Path | None, rows: list[dict[str, Any]], **sync: Any
) -> tuple[UpsertReport, ReconcileSummary, SyncSummary | None]:
    report = UpsertReport()
    if path is None:
        drift = run_reconciled(rows_from_events(rows), EventMapper(), client, report, options=_OPTIONS)
        return report, drift, None
    state = SyncState(path)
    reconciler = Reconciler(client, state=state)
    summary = run_sync(
        rows_from_events(rows),
        EventMapper(),
        client,
        report,
        options=_OPTIONS,
        state=state,
        sync=SyncOptions(**sync),
        reconciler=reconciler,
    )
    assert report.invariant_holds()
    return report, reconciler.summary(), summary


def settle() -> None:
    time.sleep(TEST_READ_LAG_S * 4)


def upserted(sandbox: SandboxServer, start: int) -> list[str]:
    reqs = sandbox.requests()[start:]
    return sorted(
        str(i["externalEventId"]) for r in reqs if r.path.endswith("/events/upsert") for i in r.inputs or []
    )


def test_a_write_moments_ago_hidden_by_hubspots_read_lag_is_not_sent_again(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(30)]
    reconcile(client, tmp_path / "s.db", rows)
    settle()
    sandbox.edit_event_by_hand("acme", "evt-1", eventName="Renamed")
    sandbox.delete_event_by_hand("acme", "evt-2")
    settle()
    report, drift, _ = reconcile(client, tmp_path / "s.db", rows)  # repairs both
    assert (report.upserted, drift["differed"], drift["missing"]) == (2, 1, 1)
    sandbox.configure(read_lag_s=30.0)  # HubSpot's reads now lag far behind the repair
    start = len(sandbox.requests())
    report, drift, _ = reconcile(client, tmp_path / "s.db", rows)
    assert report.upserted == 0
    assert upserted(sandbox, start) == []
    assert drift["drifted"] == 0
    assert drift["lagging"] >= 2  # the repaired copies HubSpot does not show yet


def test_another_apps_event_with_the_same_id_is_not_ours(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(10)]
    reconcile(client, tmp_path / "s.db", rows)
    with HubSpotClient(fast_config(sandbox), StaticTokenAuth(OTHER_TOKEN)) as other:
        other.upsert_events([event(3, eventName="The other app's")])  # same external ids
    sandbox.delete_event_by_hand("acme", "evt-3")
    settle()
    start = len(sandbox.requests())
    _, drift, _ = reconcile(client, tmp_path / "s.db", rows)
    assert (drift["missing"], drift["matched"], drift["listed"]) == (1, 9, 10)
    assert upserted(sandbox, start) == ["evt-3"]


def test_without_a_state_accounts_sharing_an_external_id_are_read_apart(
    sandbox: SandboxServer, client: HubSpotClient
) -> None:
    rows = [event(i) for i in range(5)] + [event(i, externalAccountId="globex") for i in range(2)]
    reconcile(client, None, rows)
    settle()
    sandbox.edit_event_by_hand("globex", "evt-1", eventName="Globex renamed it")
    settle()
    start = len(sandbox.requests())
    _, drift, _ = reconcile(client, None, rows)
    # evt-0 and evt-1 exist in two accounts: the list cannot tell them apart, so 4 single reads.
    assert (drift["single_reads"], drift["differed"], drift["matched"]) == (4, 1, 6)
    assert drift["sample"] == [
        {
            "externalAccountId": "globex",
            "externalEventId": "evt-1",
            "verdict": "differed",
            "fields": ["eventName"],
        }
    ]
    assert upserted(sandbox, start) == ["evt-1"]
    assert sandbox.get_event("acme", "evt-1")["eventName"] == "Webinar 1"  # type: ignore[index]


def test_on_missing_deletes_what_left_the_source_while_reconciling(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(40)]
    reconcile(client, tmp_path / "s.db", rows, on_missing="delete")
    sandbox.edit_event_by_hand("acme", "evt-5", eventOrganizer="Someone")
    settle()
    start = len(sandbox.requests())
    report, drift, summary = reconcile(client, tmp_path / "s.db", rows[:-2], on_missing="delete")
    assert summary is not None
    assert (summary["missing"], summary["deleted"]) == (2, 2)
    assert (drift["differed"], drift["missing"], report.upserted) == (1, 0, 1)
    assert upserted(sandbox, start) == ["evt-5"]
    assert {e["externalEventId"] for e in sandbox.events(sandbox.config.app_id)} == {
        f"evt-{i}" for i in range(38)
    }


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="page_size"):
        ReconcileOptions(page_size=101)
    with pytest.raises(ValueError, match="negative"):
        ReconcileOptions(max_single_reads=-1)
