"""The phase-1 pieces together against the sandbox: a state of confirmed upserts, keys that left
the source, the guardrail, then deletes/cancels that touch only this app's events of the run's
accounts, recorded back into the state."""

from __future__ import annotations

from pathlib import Path

from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.kinds.events.api import cancel_event, delete_events
from hubspot_events_provider.core.sync.digest import payload_digest
from hubspot_events_provider.core.sync.guardrails import decide_missing
from hubspot_events_provider.core.sync.state import SyncState
from hubspot_events_provider.sandbox import SandboxServer
from tests.core import _two_apps
from tests.core._two_apps import OTHER_APP, OTHER_TOKEN
from tests.core.http.test_client import fast_config

sandbox = _two_apps.sandbox  # the shared fixtures (pytest finds them by these names)
client = _two_apps.client


def _payload(account: str, event_id: str) -> dict[str, str]:
    return {
        "externalAccountId": account,
        "externalEventId": event_id,
        "eventName": f"Event {event_id}",
        "eventOrganizer": "Acme",
    }


def _sync(client: HubSpotClient, state: SyncState, rows: list[dict[str, str]]) -> None:
    """What the engine will do: send changed rows, record only what HubSpot confirmed."""
    changed = [
        r
        for r in rows
        if not state.is_unchanged((r["externalAccountId"], r["externalEventId"]), payload_digest(r))
    ]
    state.mark_pending((r["externalAccountId"], r["externalEventId"]) for r in changed)
    state.checkpoint()
    if changed:
        body = client.upsert_events(changed).body
        assert body.get("numErrors", 0) == 0
        for row, result in zip(changed, body["results"], strict=True):
            key = (row["externalAccountId"], row["externalEventId"])
            state.record_confirmed(key, payload_digest(row), object_id=result["objectId"])


def test_mirror_deletes_exactly_the_rows_that_left_and_nothing_of_other_apps(
    tmp_path: Path, sandbox: SandboxServer, client: HubSpotClient
) -> None:
    path = tmp_path / "events.state"
    source = [_payload("acme", f"ev-{i:02d}") for i in range(20)]
    with HubSpotClient(fast_config(sandbox), StaticTokenAuth(OTHER_TOKEN)) as other:
        other.upsert_events([_payload("acme", f"ev-{i:02d}") for i in range(20)])
    client.upsert_events([_payload("globex", "ev-00")])  # another account of ours: not in this run
    with SyncState(path) as state:
        _sync(client, state, source)
        state.record_confirmed(("globex", "ev-00"), payload_digest(_payload("globex", "ev-00")))
        state.commit()

    upserts_before = sandbox.stats()["upsert_requests"]
    today = source[:18]
    with SyncState(path) as state:
        _sync(client, state, today)  # nothing changed: nothing sent
        assert sandbox.stats()["upsert_requests"] == upserts_before
        missing = state.missing_keys((r["externalAccountId"], r["externalEventId"]) for r in today)
        decision = decide_missing(
            action="delete", missing=missing.count, known=missing.known, source_keys=missing.source_keys
        )
        assert (decision.proceed, decision.missing, decision.known, decision.limit) == (True, 2, 20, 2)
        outcome = delete_events(client, missing, app_id=state.app_id, on_gone=state.record_deleted)
        assert outcome.app_id is not None
        state.remember_app_id(outcome.app_id)
        assert (outcome.deleted, outcome.failed) == (2, 0)
        state.commit()

    mine = sorted(
        (e["externalAccountId"], e["externalEventId"]) for e in sandbox.events(app_id=sandbox.config.app_id)
    )
    assert mine == [("acme", f"ev-{i:02d}") for i in range(18)] + [("globex", "ev-00")]
    assert len(sandbox.events(app_id=OTHER_APP)) == 20
    with SyncState(path) as state:
        assert state.app_id == sandbox.config.app_id
        assert len(state) == 19
        # A source that lost 60 % of its rows stops at the guardrail, naming the count.
        lost = source[:7]
        missing = state.missing_keys((r["externalAccountId"], r["externalEventId"]) for r in lost)
        decision = decide_missing(
            action="delete", missing=missing.count, known=missing.known, source_keys=missing.source_keys
        )
        assert not decision.proceed
        assert decision.message.startswith("11 of 18 known event(s) are missing from the source (7 key(s))")


def test_cancel_missing_events_once(tmp_path: Path, sandbox: SandboxServer, client: HubSpotClient) -> None:
    path = tmp_path / "events.state"
    source = [_payload("acme", f"ev-{i}") for i in range(10)]
    with SyncState(path) as state:
        _sync(client, state, source)
        state.commit()
    for _run in range(2):
        with SyncState(path) as state:
            missing = state.missing_keys((r["externalAccountId"], r["externalEventId"]) for r in source[1:])
            for key in missing:
                entry = state.entry(key)
                assert entry is not None
                if not entry.cancelled:
                    assert cancel_event(client, key) == "cancelled"
                    state.record_cancelled(key)
            state.commit()
    assert sandbox.stats()["cancels"] == 1
    stored = sandbox.get_event("acme", "ev-0")
    assert stored is not None
    assert stored["eventCancelled"] is True
