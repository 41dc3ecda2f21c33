"""run_delete(): the delete write kind over the pipeline, against the sandbox over HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest

from hubspot_events_provider.core.engine.report import UpsertReport
from hubspot_events_provider.core.engine.run import WriteOptions
from hubspot_events_provider.core.errors import UnmappedFieldsError
from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.kinds.deletes.kind import EventKeyMapper, run_delete
from hubspot_events_provider.core.rows.sources import rows_from_events
from hubspot_events_provider.sandbox import Fault, SandboxServer
from hubspot_events_provider.sandbox.pytest_plugin import TEST_READ_LAG_S
from tests.core import _two_apps
from tests.core._two_apps import OTHER_APP, OTHER_TOKEN
from tests.core.http.test_client import fast_config
from tests.support import event

sandbox = _two_apps.sandbox  # the shared fixtures (pytest finds them by these names)
client = _two_apps.client


def create(client: HubSpotClient, ids: range) -> None:
    """Create the events, then wait out the sandbox's read lag (so the delete's search finds them)."""
    rows = [event(i) for i in ids]
    for start in range(0, len(rows), 100):
        client.upsert_events(rows[start : start + 100])
    time.sleep(TEST_READ_LAG_S + 0.02)


def delete(
    client: HubSpotClient, rows: list[Any], mapper: EventKeyMapper | None = None, **options: Any
) -> UpsertReport:
    report = UpsertReport()
    run_delete(
        rows_from_events(rows),
        mapper or EventKeyMapper(),
        client,
        report,
        options=WriteOptions(**{"max_in_flight": 2, **options}),
    )
    assert report.invariant_holds()
    return report


def paths(sandbox: SandboxServer, start: int) -> list[str]:
    return [f"{r.method} {r.path.rsplit('/2026-03', 1)[1]}" for r in sandbox.requests()[start:]]


def test_batches_with_the_app_id_and_unknown_events_count_as_deleted(
    sandbox: SandboxServer, client: HubSpotClient
) -> None:
    create(client, range(150))
    with HubSpotClient(fast_config(sandbox), StaticTokenAuth(OTHER_TOKEN)) as other:
        other.upsert_events([event(1), event(2)])
    time.sleep(TEST_READ_LAG_S + 0.02)
    rows = [{"externalAccountId": "acme", "externalEventId": f"evt-{i}"} for i in range(120)]
    rows += [{"externalAccountId": "acme", "externalEventId": f"gone-{i}"} for i in range(5)]
    start = len(sandbox.requests())
    report = delete(client, rows)
    assert (report.upserted, report.failed, report.total) == (125, 0, 125)
    assert report.summary()["upserted"] == 125
    assert sorted(paths(sandbox, start)) == [
        "GET /events/search",
        "POST /events/delete",
        "POST /events/delete",
    ]
    mine = {e["externalEventId"] for e in sandbox.events(app_id=sandbox.config.app_id)}
    assert mine == {f"evt-{i}" for i in range(120, 150)}
    assert {e["externalEventId"] for e in sandbox.events(app_id=OTHER_APP)} == {"evt-1", "evt-2"}


def test_without_an_app_id_deletes_go_one_by_one_and_404_is_deleted(
    sandbox: SandboxServer, client: HubSpotClient
) -> None:
    create(client, range(2))
    rows = [{"id": f"gone-{i}"} for i in range(3)] + [{"id": "evt-0"}, {"id": "evt-1"}]
    mapper = EventKeyMapper(field_map={"id": "externalEventId"}, defaults={"externalAccountId": "acme"})
    start = len(sandbox.requests())
    report = delete(client, rows, mapper, batch_size=3, max_in_flight=1)
    # The first batch finds nothing to learn the appId from: one by one (3 searches, 3 deletes);
    # the second batch's search finds evt-0's appId: one batch delete.
    assert report.upserted == 5
    assert paths(sandbox, start)[:3] == ["GET /events/search"] * 3
    assert paths(sandbox, start)[3:6] == [
        "DELETE /events/gone-0",
        "DELETE /events/gone-1",
        "DELETE /events/gone-2",
    ]
    assert paths(sandbox, start)[6:] == ["GET /events/search", "POST /events/delete"]
    assert sandbox.events() == []


def test_invalid_rows_are_rejected_and_unmapped_keys_refused(client: HubSpotClient) -> None:
    report = delete(
        client, [{"externalAccountId": "acme"}, {"externalAccountId": "acme", "externalEventId": "x"}]
    )
    assert (report.rejected, report.upserted) == (1, 1)
    assert report.summary()["sample_errors"][0]["category"] == "MISSING_REQUIRED_FIELD"
    with pytest.raises(UnmappedFieldsError, match="deleted_at"):
        delete(client, [{"externalAccountId": "a", "externalEventId": "x", "deleted_at": "2026-01-01"}])
    ignoring = EventKeyMapper(ignore_unmapped=True)
    report = delete(
        client, [{"externalAccountId": "a", "externalEventId": "x", "deleted_at": "2026"}], ignoring
    )
    assert report.upserted == 1


def test_a_failing_batch_fails_its_rows_with_the_reason(
    sandbox: SandboxServer, client: HubSpotClient
) -> None:
    create(client, range(4))
    sandbox.add_fault(Fault(kind="5xx_before", probability=1.0, times=None, route="any", status=503))
    with HubSpotClient(fast_config(sandbox, max_retries=0), StaticTokenAuth(sandbox.token)) as failing:
        report = delete(
            failing, [{"externalAccountId": "acme", "externalEventId": f"evt-{i}"} for i in range(4)]
        )
    assert (report.upserted, report.failed) == (0, 4)
    assert report.summary()["sample_errors"][0]["ids"] == {
        "externalAccountId": "acme",
        "externalEventId": "evt-0",
    }
    assert len(sandbox.events()) == 4


def test_mapper_refuses_other_targets() -> None:
    with pytest.raises(ValueError, match="externalAccountId and externalEventId"):
        EventKeyMapper(field_map={"name": "eventName"})


@pytest.mark.parametrize("status", [202, 204])
def test_batch_delete_answered_202_or_204(sandbox: SandboxServer, client: HubSpotClient, status: int) -> None:
    sandbox.configure(batch_delete_status=status)
    create(client, range(3))
    start = len(sandbox.requests())
    report = delete(client, [{"externalAccountId": "acme", "externalEventId": f"evt-{i}"} for i in range(3)])
    assert (report.upserted, report.failed) == (3, 0)
    assert [r.status for r in sandbox.requests()[start:] if r.path.endswith("/events/delete")] == [status]
    assert sandbox.events() == []
