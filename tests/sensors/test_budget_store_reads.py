"""The sensors' reads, the deferrable triggers and the attendance operator take their slots in the
shared budget store too: each builds its client through ``HubSpotHook`` from a connection whose
extras name a real ``redis-server`` as ``budget_store``, and Redis holds one grant per request the
sandbox answered them (requests made outside the store, before, are not counted)."""

from __future__ import annotations

import asyncio
import pathlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hubspot_events_provider.core.http.auth import StaticTokenAuth, budget_identity
from hubspot_events_provider.core.http.budget_store import resolve_budget_key
from hubspot_events_provider.sandbox import SandboxServer
from hubspot_events_provider.sensors.attendance import MarketingEventAttendanceSensor
from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor
from hubspot_events_provider.triggers.attendance import MarketingEventAttendanceTrigger
from hubspot_events_provider.triggers.marketing_events import MarketingEventsTrigger
from tests.redis_server import RedisServer, running_redis
from tests.sensors.test_attendance import _record
from tests.sensors.test_marketing_events import upsert
from tests.support import connect

#: No grant of a test leaves the store's window before the test reads it.
WINDOW_S = 120.0


class Grants:
    """The store's grants for the sandbox app, against the sandbox's requests since a mark."""

    def __init__(self, server: RedisServer, sandbox: SandboxServer) -> None:
        import redis as redis_py

        self.client = redis_py.Redis.from_url(server.url)
        self.key = resolve_budget_key(sandbox.url, budget_identity(StaticTokenAuth(sandbox.token)))
        self.sandbox = sandbox
        self.seen = len(sandbox.requests())  # requests made before the store was configured

    def count(self) -> int:
        """Grants in the app's window (ZCARD of its key)."""
        return int(self.client.zcard(self.key))

    def requests(self) -> int:
        """Requests the sandbox answered since the mark."""
        return len(self.sandbox.requests()) - self.seen


@pytest.fixture
def grants(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Grants]:
    """``hubspot_default`` -> the sandbox, sharing its budget through a fresh ``redis-server``."""
    with running_redis() as server:
        connect(
            monkeypatch,
            hubspot_sandbox,
            budget_store=server.url,
            max_requests_per_10s=10_000,
            rate_window_s=WINDOW_S,
        )
        counter = Grants(server, hubspot_sandbox)
        yield counter
        counter.client.close()


async def _fire(trigger: Any) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def test_event_sensor_and_trigger_reads_take_store_slots(
    hubspot_sandbox: SandboxServer, grants: Grants
) -> None:
    upsert(hubspot_sandbox, "e1", "e2", "e3")  # a client without a store: not counted
    grants.seen = len(hubspot_sandbox.requests())
    assert grants.count() == 0

    ids = [("acme", "e1"), ("acme", "e2"), ("acme", "e3")]
    found = MarketingEventsSensor(task_id="wait", external_ids=ids, poke_interval=0.02, timeout=30).execute(
        {}
    )
    assert len(found["object_ids"]) == 3
    after_sensor = grants.count()
    assert after_sensor == grants.requests() >= 3  # every sensor read took a slot

    trigger = MarketingEventsTrigger(
        hubspot_conn_id="hubspot_default", keys=ids, poke_interval=0.05, end_at=time.time() + 30
    )
    (fired,) = asyncio.run(_fire(trigger))
    assert fired["status"] == "success"
    assert grants.count() == grants.requests() >= after_sensor + 3  # and every trigger read


def test_attendance_operator_sensor_and_trigger_take_store_slots(
    attendance_sandbox: SandboxServer, grants: Grants, tmp_path: pathlib.Path
) -> None:
    attendance_sandbox.configure(participation_lag_s=0)
    results = _record(tmp_path)  # the attendance operator, through hubspot_default
    after_record = grants.count()
    assert after_record == grants.requests() > 0

    sensor = MarketingEventAttendanceSensor(
        task_id="confirm", results_path=results, sample_size=5, poke_interval=0.05, timeout=30
    )
    assert sensor.execute({})["checked"] == 5
    after_sensor = grants.count()
    assert after_sensor == grants.requests() > after_record

    trigger = MarketingEventAttendanceTrigger(
        hubspot_conn_id="hubspot_default",
        keys=[list(key) for key in sensor.targets()],
        poke_interval=0.05,
        end_at=time.time() + 30,
    )
    (fired,) = asyncio.run(_fire(trigger))
    assert fired["status"] == "success"
    assert grants.count() == grants.requests() > after_sensor
