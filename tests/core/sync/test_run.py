"""run_sync(): the sync state wired into the write pipeline, against the sandbox over HTTP."""

from __future__ import annotations

import pathlib
import sqlite3
from typing import Any

import pytest

from hubspot_events_provider.core.engine.report import UpsertReport
from hubspot_events_provider.core.engine.run import WriteOptions
from hubspot_events_provider.core.engine.summary import SyncSummary
from hubspot_events_provider.core.errors import HubSpotServerError
from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import rows_from_events
from hubspot_events_provider.core.sync.digest import payload_digest
from hubspot_events_provider.core.sync.run import MissingGuardrailError, SyncOptions, run_sync
from hubspot_events_provider.core.sync.state import SyncState
from hubspot_events_provider.sandbox import Fault, SandboxServer
from tests.core import _two_apps
from tests.core._two_apps import OTHER_APP, OTHER_TOKEN
from tests.core.http.test_client import fast_config
from tests.support import event

sandbox = _two_apps.sandbox  # the shared fixtures (pytest finds them by these names)
client = _two_apps.client


def sync(
    client: HubSpotClient | None,
    state_path: pathlib.Path,
    rows: list[dict[str, Any]],
    *,
    dry_run: bool = False,
    allow_empty: bool = False,
    **options: Any,
) -> tuple[UpsertReport, SyncSummary]:
    report = UpsertReport(dry_run=dry_run)
    state = SyncState(state_path)
    summary = run_sync(
        rows_from_events(rows),
        EventMapper(),
        client,
        report,
        options=WriteOptions(batch_size=20, max_in_flight=2, dry_run=dry_run, allow_empty=allow_empty),
        state=state,
        sync=SyncOptions(**options),
    )
    assert report.invariant_holds()
    return report, summary


def upserted_ids(sandbox: SandboxServer, start: int = 0) -> list[str]:
    return [
        str(i["externalEventId"])
        for r in sandbox.requests()[start:]
        if r.path.endswith("/events/upsert")
        for i in r.inputs or []
    ]


def test_second_run_over_an_unchanged_table_sends_nothing(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(50)]
    first, summary = sync(client, tmp_path / "s.db", rows)
    assert (first.upserted, first.unchanged) == (50, 0)
    assert summary["existed"] is False
    start = len(sandbox.requests())
    second, summary = sync(client, tmp_path / "s.db", rows)
    assert (second.upserted, second.unchanged, second.total) == (0, 50, 50)
    assert second.summary()["unchanged"] == 50
    assert sandbox.requests()[start:] == []
    assert summary["existed"] is True


def test_changing_ten_rows_sends_exactly_those(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(50)]
    sync(client, tmp_path / "s.db", rows)
    changed = {5, 7, 11, 12, 20, 33, 34, 40, 41, 49}
    for i in changed:
        rows[i] = event(i, eventName=f"Renamed {i}")
    start = len(sandbox.requests())
    report, _ = sync(client, tmp_path / "s.db", rows)
    assert (report.upserted, report.unchanged) == (10, 40)
    assert sorted(upserted_ids(sandbox, start)) == sorted(f"evt-{i}" for i in changed)
    assert sandbox.get_event("acme", "evt-5")["eventName"] == "Renamed 5"  # type: ignore[index]


def test_a_row_refused_yesterday_is_retried_today(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(10)]
    sandbox.configure(reject_external_event_ids=("evt-3",))
    first, _ = sync(client, tmp_path / "s.db", rows)
    assert (first.upserted, first.failed) == (9, 1)
    sandbox.configure(reject_external_event_ids=())
    start = len(sandbox.requests())
    second, _ = sync(client, tmp_path / "s.db", rows)
    assert (second.upserted, second.unchanged, second.failed) == (1, 9, 0)
    assert upserted_ids(sandbox, start) == ["evt-3"]
    with SyncState(tmp_path / "s.db") as state:
        entry = state.entry(("acme", "evt-3"))
        assert entry is not None
        assert entry.outcome == "confirmed"


def test_the_state_stores_the_digest_of_what_hubspot_confirmed(
    client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    sync(client, tmp_path / "s.db", [event(1)])
    payload = EventMapper().map_row(event(1)).payload
    assert payload is not None
    with SyncState(tmp_path / "s.db") as state:
        entry = state.entry(("acme", "evt-1"))
        assert entry is not None
        assert (entry.digest, entry.outcome) == (payload_digest(payload), "confirmed")
        assert entry.object_id is not None


def test_removed_rows_are_deleted_and_no_other_apps_events(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(30)]
    sync(client, tmp_path / "s.db", rows)
    with HubSpotClient(fast_config(sandbox), StaticTokenAuth(OTHER_TOKEN)) as other:
        other.upsert_events([event(1), event(2)])  # another app, same external ids
    kept = [r for r in rows if r["externalEventId"] not in ("evt-1", "evt-2", "evt-3")]
    report, summary = sync(client, tmp_path / "s.db", kept, on_missing="delete")
    assert (report.unchanged, summary["decision"], summary["deleted"]) == (27, "ok", 3)
    assert sandbox.get_event("acme", "evt-1") is None
    assert sandbox.get_event("acme", "evt-4") is not None
    assert {e["externalEventId"] for e in sandbox.events(app_id=OTHER_APP)} == {"evt-1", "evt-2"}
    with SyncState(tmp_path / "s.db") as state:
        assert len(state) == 27
    # The next run finds nothing missing.
    _, summary = sync(client, tmp_path / "s.db", kept, on_missing="delete")
    assert (summary["missing"], summary["deleted"]) == (0, 0)


def test_removed_rows_are_cancelled_once(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(20)]
    sync(client, tmp_path / "s.db", rows)
    _, summary = sync(client, tmp_path / "s.db", rows[1:], on_missing="cancel")
    assert summary["cancelled"] == 1
    assert sandbox.get_event("acme", "evt-0")["eventCancelled"] is True  # type: ignore[index]
    assert sandbox.stats()["cancels"] == 1
    _, summary = sync(client, tmp_path / "s.db", rows[1:], on_missing="cancel")
    assert (summary["missing"], summary["cancelled"], sandbox.stats()["cancels"]) == (0, 0, 1)


def test_a_source_that_lost_60_percent_stops_at_the_guardrail(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(50)]
    sync(client, tmp_path / "s.db", rows)
    start = len(sandbox.requests())
    with pytest.raises(MissingGuardrailError, match=r"30 of 50 known event\(s\) are missing") as info:
        sync(client, tmp_path / "s.db", [event(i, eventName="x") for i in range(20)], on_missing="delete")
    assert info.value.decision.reason == "max_delete_fraction"
    assert sandbox.requests()[start:] == []  # stopped before anything was sent
    assert len(sandbox.events()) == 50


def test_dry_run_lists_what_would_be_deleted_and_changes_nothing(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(20)]
    sync(client, tmp_path / "s.db", rows)
    before = (tmp_path / "s.db").read_bytes()
    report, summary = sync(None, tmp_path / "s.db", rows[1:], dry_run=True, on_missing="delete")
    assert (report.unchanged, report.would_upsert) == (19, 0)
    assert summary["would_act"] == 1
    assert summary["sample_missing"] == [{"externalAccountId": "acme", "externalEventId": "evt-0"}]
    assert (tmp_path / "s.db").read_bytes() == before
    assert len(sandbox.events()) == 20


def test_completed_events_are_completed_once(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i, eventCompleted=i < 3) for i in range(6)]
    sync(client, tmp_path / "s.db", rows)
    assert sandbox.stats()["completes"] == 3
    _, summary = sync(client, tmp_path / "s.db", rows)
    assert (summary["completed"], sandbox.stats()["completes"]) == (0, 3)
    stored = sandbox.get_event("acme", "evt-0")
    assert stored is not None
    assert stored["eventCompleted"] is True


def test_a_failed_run_keeps_what_was_confirmed_and_the_rerun_matches_hubspot(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(100)]
    sync(client, tmp_path / "s.db", rows[:40])
    changed = [event(i, eventName=f"v2 {i}") for i in range(100)]
    # The first upsert request is applied but answered 503, and this client does not retry.
    sandbox.add_fault(Fault(kind="5xx_after", probability=1.0, times=1, route="upsert", status=503))
    with (
        HubSpotClient(fast_config(sandbox, max_retries=0), StaticTokenAuth(sandbox.token)) as failing,
        pytest.raises(HubSpotServerError),
    ):
        run_sync(
            rows_from_events(changed),
            EventMapper(),
            failing,
            UpsertReport(),
            options=WriteOptions(batch_size=20, max_in_flight=1),
            state=SyncState(tmp_path / "s.db"),
        )
    with SyncState(tmp_path / "s.db") as state:
        assert state.interrupted_run is not None
        outcomes = {state.entry(("acme", f"evt-{i}")).outcome for i in range(100)}  # type: ignore[union-attr]
        assert outcomes <= {"confirmed", "pending"}
        assert "pending" in outcomes
    report, _ = sync(client, tmp_path / "s.db", changed)
    assert report.failed == 0
    with SyncState(tmp_path / "s.db") as state:
        for i in range(100):
            stored = sandbox.get_event("acme", f"evt-{i}")
            entry = state.entry(("acme", f"evt-{i}"))
            assert stored is not None
            assert entry is not None
            assert entry.outcome == "confirmed"
            assert stored["eventName"] == f"v2 {i}"
    # A third run is a no-op: the state matches HubSpot.
    report, _ = sync(client, tmp_path / "s.db", changed)
    assert (report.upserted, report.unchanged) == (0, 100)


def test_an_empty_source_never_deletes(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    sync(client, tmp_path / "s.db", [event(i) for i in range(20)])
    report, summary = sync(client, tmp_path / "s.db", [], allow_empty=True, on_missing="delete")
    assert (report.total, summary["decision"], summary["deleted"]) == (0, "empty_source", 0)
    assert len(sandbox.events()) == 20


def test_rows_without_valid_ids_block_deletes_but_invalid_rows_with_ids_are_not_missing(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(20)]
    sync(client, tmp_path / "s.db", rows)
    # evt-5 became invalid (bad date) but is still in the source: not missing; evt-0 left.
    today = [*rows[1:5], event(5, startDateTime="tomorrow"), *rows[6:]]
    report, summary = sync(client, tmp_path / "s.db", today, on_missing="delete")
    assert (report.rejected, summary["missing"], summary["deleted"]) == (1, 1, 1)
    assert sandbox.get_event("acme", "evt-5") is not None
    assert sandbox.get_event("acme", "evt-0") is None
    # A row with no externalEventId: which events left is unknown, nothing is deleted.
    report, summary = sync(
        client, tmp_path / "s.db", [*today[1:], event(99, externalEventId="")], on_missing="delete"
    )
    assert (summary["missing"], summary["decision"], summary["deleted"]) == (1, "unidentified_rows", 0)
    assert sandbox.get_event("acme", "evt-1") is not None


def test_cancelling_an_event_deleted_by_hand_forgets_it(
    sandbox: SandboxServer, client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(20)]
    sync(client, tmp_path / "s.db", rows)
    client.delete_event("evt-0", "acme")
    _, summary = sync(client, tmp_path / "s.db", rows[1:], on_missing="cancel")
    assert (summary["missing"], summary["cancelled"], sandbox.stats()["cancels"]) == (1, 1, 0)
    with SyncState(tmp_path / "s.db") as state:
        assert state.entry(("acme", "evt-0")) is None
        assert len(state) == 19


def test_long_runs_checkpoint_confirmed_rows_as_they_go(
    client: HubSpotClient, tmp_path: pathlib.Path
) -> None:
    def generation() -> int:
        with sqlite3.connect(tmp_path / "s.db") as db:
            return int(db.execute("SELECT value FROM meta WHERE name = 'generation'").fetchone()[0])

    sync(client, tmp_path / "s.db", [event(i) for i in range(3)])
    assert generation() == 2  # the checkpoint before sending, then the commit
    sync(client, tmp_path / "s.db", [event(i, eventName="v2") for i in range(3)], checkpoint_interval_s=1e-9)
    assert generation() == 2 + 1 + 3 + 1  # + one checkpoint per confirmed row with a tiny interval
