"""Delete (batch with appId from search, single fallback), cancel and complete against the sandbox."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from hubspot_events_provider.core.errors import HubSpotAuthError, HubSpotError
from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.kinds.events.api import (
    cancel_event,
    complete_event,
    delete_events,
    find_app_id,
)
from hubspot_events_provider.sandbox import Fault, SandboxServer
from hubspot_events_provider.sandbox.pytest_plugin import TEST_READ_LAG_S
from tests.core import _two_apps
from tests.core._two_apps import OTHER_APP, OTHER_TOKEN
from tests.core.http.test_client import fast_config

sandbox = _two_apps.sandbox  # the shared fixtures (pytest finds them by these names)
client = _two_apps.client


def _event(event_id: str, account: str = "acme") -> dict[str, str]:
    return {
        "externalAccountId": account,
        "externalEventId": event_id,
        "eventName": f"Event {event_id}",
        "eventOrganizer": "Acme",
        "startDateTime": "2026-05-01T09:00:00Z",
    }


def _create(client: HubSpotClient, keys: list[tuple[str, str]]) -> None:
    """Create the events, then wait out the sandbox's read lag (these tests are of other things)."""
    for start in range(0, len(keys), 100):
        client.upsert_events([_event(e, a) for a, e in keys[start : start + 100]])
    time.sleep(TEST_READ_LAG_S + 0.02)


def _paths(sandbox: SandboxServer, start: int = 0) -> list[str]:
    return [f"{r.method} {r.path.rsplit('/2026-03', 1)[1]}" for r in sandbox.requests()[start:]]


def test_batches_use_the_app_id_from_one_search(sandbox: SandboxServer, client: HubSpotClient) -> None:
    keys = [("acme", f"ev-{i:03d}") for i in range(250)]
    _create(client, keys)
    start = len(sandbox.requests())
    gone: list[tuple[str, str]] = []
    outcome = delete_events(client, keys, on_gone=gone.append)
    assert (outcome.deleted, outcome.already_gone, outcome.failed) == (250, 0, 0)
    assert (outcome.batches, outcome.singles, outcome.requests) == (3, 0, 4)
    assert outcome.app_id == sandbox.config.app_id
    assert gone == keys
    assert sandbox.events() == []
    assert _paths(sandbox, start) == ["GET /events/search"] + ["POST /events/delete"] * 3
    assert [r.status for r in sandbox.requests()[start:]] == [200, 202, 202, 202]
    first_batch = sandbox.requests()[start + 1].inputs
    assert first_batch is not None
    assert first_batch[0] == {
        "appId": sandbox.config.app_id,
        "externalAccountId": "acme",
        "externalEventId": "ev-000",
    }
    assert len(first_batch) == 100


def test_another_apps_events_with_the_same_ids_stay(sandbox: SandboxServer, client: HubSpotClient) -> None:
    keys = [("acme", "ev-1"), ("acme", "ev-2")]
    _create(client, keys)
    with HubSpotClient(fast_config(sandbox), StaticTokenAuth(OTHER_TOKEN)) as other:
        _create(other, [*keys, ("acme", "ev-3")])
    outcome = delete_events(client, [*keys, ("acme", "ev-3")])
    assert outcome.app_id == sandbox.config.app_id
    assert outcome.failed == 0
    assert sandbox.events(app_id=sandbox.config.app_id) == []
    assert sorted(e["externalEventId"] for e in sandbox.events(app_id=OTHER_APP)) == ["ev-1", "ev-2", "ev-3"]


def test_events_already_gone_fall_back_to_single_deletes(
    sandbox: SandboxServer, client: HubSpotClient
) -> None:
    _create(client, [("acme", "still-here")])
    keys = [("acme", "gone-1"), ("acme", "gone-2"), ("acme", "still-here")]
    gone: list[tuple[str, str]] = []
    sandbox.reset()  # drops every event: nothing can be found by search any more
    _create(client, [("acme", "still-here")])
    outcome = delete_events(client, keys, app_id=None, batch_size=2, on_gone=gone.append)
    # Batch 1 (gone-1, gone-2): two searches find nothing -> two single deletes answer 404.
    # Batch 2 (still-here): its search finds the appId -> one batch delete.
    assert (outcome.deleted, outcome.already_gone, outcome.failed) == (1, 2, 0)
    assert (outcome.singles, outcome.batches) == (2, 1)
    assert gone == keys
    assert sandbox.events() == []
    statuses = [(p, r.status) for p, r in zip(_paths(sandbox), sandbox.requests(), strict=True)][1:]
    assert statuses == [
        ("GET /events/search", 200),
        ("GET /events/search", 200),
        ("DELETE /events/gone-1", 404),
        ("DELETE /events/gone-2", 404),
        ("GET /events/search", 200),
        ("POST /events/delete", 202),
    ]


def test_batch_answer_204_is_success_too(sandbox: SandboxServer, client: HubSpotClient) -> None:
    sandbox.configure(batch_delete_status=204)
    _create(client, [("acme", "ev-1")])
    outcome = delete_events(client, [("acme", "ev-1")], app_id=sandbox.config.app_id)
    assert (outcome.deleted, outcome.batches, outcome.requests) == (1, 1, 2)  # one search checks the id
    assert sandbox.events() == []


def test_a_wrong_app_id_is_corrected_by_the_search(sandbox: SandboxServer, client: HubSpotClient) -> None:
    _create(client, [("acme", "ev-1"), ("acme", "ev-2")])
    outcome = delete_events(client, [("acme", "ev-1"), ("acme", "ev-2")], app_id=OTHER_APP)
    assert outcome.app_id == sandbox.config.app_id
    assert (outcome.deleted, outcome.batches) == (2, 1)
    assert sandbox.events() == []


def test_transient_failures_are_counted_per_event(sandbox: SandboxServer, client: HubSpotClient) -> None:
    _create(client, [("acme", "ev-1"), ("acme", "ev-2")])
    sandbox.add_fault(Fault(kind="5xx_before", route="any", status=503))
    failed: list[tuple[tuple[str, str], HubSpotError]] = []
    outcome = delete_events(
        client,
        [("acme", "ev-1"), ("acme", "ev-2")],
        app_id=sandbox.config.app_id,
        on_failed=lambda key, exc: failed.append((key, exc)),
    )
    assert (outcome.deleted, outcome.failed) == (0, 2)
    assert [k for k, _e in failed] == [("acme", "ev-1"), ("acme", "ev-2")]
    assert all(e.status == 503 for _k, e in failed)
    assert outcome.sample_errors[0]["externalEventId"] == "ev-1"
    assert outcome.sample_errors[0]["status"] == 503
    sandbox.clear_faults()
    assert len(sandbox.events()) == 2


def test_bad_token_is_raised_not_counted(sandbox: SandboxServer) -> None:
    with (
        HubSpotClient(fast_config(sandbox), StaticTokenAuth("wrong-token")) as bad,
        pytest.raises(HubSpotAuthError),
    ):
        delete_events(bad, [("acme", "ev-1")], app_id=sandbox.config.app_id)


def test_batch_size_is_checked(client: HubSpotClient) -> None:
    with pytest.raises(ValueError, match="between 1 and 100"):
        delete_events(client, [], batch_size=101)


def test_find_app_id_sees_only_this_apps_events(sandbox: SandboxServer, client: HubSpotClient) -> None:
    with HubSpotClient(fast_config(sandbox), StaticTokenAuth(OTHER_TOKEN)) as other:
        _create(other, [("acme", "theirs")])
        assert find_app_id(other, [("acme", "theirs")]) == OTHER_APP
    assert find_app_id(client, [("acme", "theirs")]) is None
    _create(client, [("other-account", "theirs")])
    assert find_app_id(client, [("acme", "theirs")]) is None  # same id, other account: not a match
    assert find_app_id(client, [("acme", "theirs"), ("other-account", "theirs")]) == sandbox.config.app_id


def test_cancel(sandbox: SandboxServer, client: HubSpotClient) -> None:
    _create(client, [("acme", "ev/1")])
    assert cancel_event(client, ("acme", "ev/1")) == "cancelled"
    stored = sandbox.get_event("acme", "ev/1")
    assert stored is not None
    assert stored["eventCancelled"] is True
    assert cancel_event(client, ("acme", "nope")) == "not_found"
    assert cancel_event(client, ("other", "ev/1")) == "not_found"


def test_cancel_never_reaches_another_apps_event(sandbox: SandboxServer, client: HubSpotClient) -> None:
    with HubSpotClient(fast_config(sandbox), StaticTokenAuth(OTHER_TOKEN)) as other:
        _create(other, [("acme", "theirs")])
    assert cancel_event(client, ("acme", "theirs")) == "not_found"
    stored = sandbox.get_event("acme", "theirs", app_id=OTHER_APP)
    assert stored is not None
    assert "eventCancelled" not in stored


def test_complete_with_datetimes_and_text(sandbox: SandboxServer, client: HubSpotClient) -> None:
    _create(client, [("acme", "ev-1"), ("acme", "ev-2")])
    start = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    end = dt.datetime(2026, 5, 1, 10, 30, 0, 250_000, tzinfo=dt.UTC)
    assert complete_event(client, ("acme", "ev-1"), start, end) == "completed"
    stored = sandbox.get_event("acme", "ev-1")
    assert stored is not None
    assert (stored["eventCompleted"], stored["startDateTime"], stored["endDateTime"]) == (
        True,
        "2026-05-01T07:00:00.000Z",
        "2026-05-01T10:30:00.250Z",
    )
    body = sandbox.requests()[-1]
    assert body.path.endswith("/events/ev-1/complete")
    assert body.query == "externalAccountId=acme"
    assert (
        complete_event(client, ("acme", "ev-2"), "2026-05-02T09:00:00Z", "2026-05-02T10:00:00Z")
        == "completed"
    )
    assert complete_event(client, ("acme", "nope"), start, end) == "not_found"


def test_complete_refuses_naive_datetimes(client: HubSpotClient) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        complete_event(client, ("acme", "ev-1"), dt.datetime(2026, 5, 1, 9), "2026-05-01T10:00:00Z")


def test_an_unconfirmed_app_id_never_deletes_in_a_batch(
    sandbox: SandboxServer, client: HubSpotClient
) -> None:
    """Events written moments ago are not found by search yet (HubSpot's read lag), so a given wrong
    appId cannot be corrected: the batch would "delete" nothing, silently. They go one by one."""
    sandbox.configure(read_lag_s=5.0)
    client.upsert_events([_event(e, "acme") for e in ("ev-1", "ev-2")])
    outcome = delete_events(client, [("acme", "ev-1"), ("acme", "ev-2")], app_id=OTHER_APP)
    assert (outcome.deleted, outcome.batches, outcome.singles, outcome.failed) == (2, 0, 2, 0)
    assert sandbox.events() == []
