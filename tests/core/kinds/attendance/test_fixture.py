"""The Zoom-like warehouse fixture, recorded end to end by the write pipeline with the attendance
kind (no Airflow): map every row, keep the last row per (event, contact, state), send register ->
attend -> cancel, then compare HubSpot (the sandbox) with
:func:`dags_example.warehouse.expected_attendance`."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dags_example import warehouse
from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.engine.run import WriteOptions
from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.core.kinds.attendance.api import get_participation_counters
from hubspot_events_provider.core.kinds.attendance.kind import ATTENDANCE_KEY_FIELDS, run_attendance
from hubspot_events_provider.core.kinds.attendance.mapper import AttendanceMapper
from hubspot_events_provider.core.kinds.events.api import complete_event as complete
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import rows_from_events, rows_from_file
from hubspot_events_provider.sandbox import SandboxServer
from hubspot_events_provider.sandbox.config import SEED_CONTACTS

MAPPER = AttendanceMapper(
    field_map=warehouse.ATTENDANCE_FIELD_MAP,
    contact_properties=warehouse.ATTENDANCE_CONTACT_PROPERTIES,
    ignore_fields=warehouse.ATTENDANCE_IGNORE_FIELDS,
)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return warehouse.build_attendance(tmp_path / "warehouse.db")


@pytest.fixture
def client(hubspot_sandbox: SandboxServer) -> Iterator[HubSpotClient]:
    hubspot_sandbox.configure(participation_lag_s=0)  # reads show writes at once
    with HubSpotClient(
        ClientConfig(base_url=hubspot_sandbox.url), StaticTokenAuth(hubspot_sandbox.token)
    ) as c:
        yield c


def _rows(database: Path, table: str, order: str) -> list[dict[str, Any]]:
    with sqlite3.connect(database) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")]


def _upsert_webinars(client: HubSpotClient, database: Path) -> list[dict[str, Any]]:
    mapper = EventMapper(field_map=warehouse.WEBINAR_FIELD_MAP, defaults=warehouse.WEBINAR_DEFAULTS)
    events = [mapper.map_row(r).payload for r in _rows(database, "webinars", "webinar_id")]
    assert all(e is not None for e in events)
    assert client.upsert_events(events).status == 200  # type: ignore[arg-type]
    return events  # type: ignore[return-value]


def _record(client: HubSpotClient, database: Path) -> tuple[dict[str, str], set[str]]:
    """Record every row through the pipeline.

    :returns: row_id -> category of every row not recorded, and the row_ids superseded.
    """
    rejected_file = io.BytesIO()
    report = UpsertReport(rejected=JsonLinesWriter(rejected_file), key_fields=ATTENDANCE_KEY_FIELDS)
    rows = _rows(database, "webinar_attendance", "row_id")
    run_attendance(
        rows_from_events(rows), MAPPER, client, report, options=WriteOptions(batch_size=7, max_in_flight=3)
    )
    assert report.invariant_holds()
    assert report.total == len(rows)
    lines = [json.loads(line) for line in rejected_file.getvalue().decode().splitlines()]
    rejected = {r["row"]["row_id"]: r["category"] for r in lines if r["stage"] != "superseded"}
    superseded = {r["row"]["row_id"] for r in lines if r["stage"] == "superseded"}
    assert report.upserted == len(rows) - len(rejected) - len(superseded)
    return rejected, superseded


def _stored(sandbox: SandboxServer, expected: warehouse.ExpectedAttendance) -> dict[Any, dict[str, Any]]:
    out = {}
    for p in sandbox.participations():
        key = next(k for k in _stored_keys(p) if k in expected.participations)
        out[key] = {name: p[name] for name in ("occurredAt", "joinedAt", "leftAt")} | {"state": p["state"]}
    return out


def test_the_export_lands_in_hubspot_row_by_row(
    hubspot_sandbox: SandboxServer, client: HubSpotClient, database: Path
) -> None:
    expected = warehouse.expected_attendance()
    webinars = _upsert_webinars(client, database)
    rejected, superseded = _record(client, database)
    assert rejected == expected.rejected
    assert superseded == expected.superseded
    assert _stored(hubspot_sandbox, expected) == expected.participations
    for event in webinars:
        key = (event["externalAccountId"], event["externalEventId"])
        assert get_participation_counters(client, *key) == expected.counters[key]
    created = {
        c["email"].casefold(): c["properties"] for c in hubspot_sandbox.contacts() if c["origin"] != "seed"
    }
    assert created == expected.new_contacts
    seeds = {c["vid"]: c["properties"] for c in hubspot_sandbox.contacts() if c["origin"] == "seed"}
    assert seeds == {c["vid"]: c["properties"] for c in SEED_CONTACTS}

    for event in webinars:
        done = complete(
            client,
            (event["externalAccountId"], event["externalEventId"]),
            event["startDateTime"],
            event["endDateTime"],
        )
        assert done == "completed"
        key = (event["externalAccountId"], event["externalEventId"])
        before = expected.counters[key]
        after = {**before, "registered": 0, "noShows": before["registered"]}
        assert get_participation_counters(client, *key) == after
    durations = {
        key: p["attendanceDurationSeconds"]
        for p in hubspot_sandbox.participations()
        if p["attendanceDurationSeconds"] is not None
        for key in [next(k for k in _stored_keys(p) if k in expected.participations)]
    }
    assert durations == expected.durations


def _stored_keys(p: dict[str, Any]) -> list[Any]:
    return [
        (p["externalAccountId"], p["externalEventId"], p["email"].casefold()),
        (p["externalAccountId"], p["externalEventId"], p["vid"]),
    ]


def test_a_rerun_changes_nothing(
    hubspot_sandbox: SandboxServer, client: HubSpotClient, database: Path
) -> None:
    expected = warehouse.expected_attendance()
    _upsert_webinars(client, database)
    _record(client, database)
    first = (hubspot_sandbox.participations(), hubspot_sandbox.contacts(), hubspot_sandbox.stats())
    rejected, _ = _record(client, database)
    assert rejected == expected.rejected
    strip = ("updatedAt",)
    assert [{k: v for k, v in p.items() if k not in strip} for p in hubspot_sandbox.participations()] == [
        {k: v for k, v in p.items() if k not in strip} for p in first[0]
    ]
    assert hubspot_sandbox.contacts() == first[1]
    assert hubspot_sandbox.stats()["timeline_events"] == first[2]["timeline_events"]


def test_the_export_file_reads_like_the_table(tmp_path: Path, database: Path) -> None:
    for name in ("attendance.jsonl", "attendance.csv.gz"):
        path = warehouse.export_attendance_file(database, tmp_path / name)
        mapped = [MAPPER.map_row(r.data) for r in rows_from_file(lambda p=path: p.open("rb"), name=name)]
        table = [MAPPER.map_row(r) for r in _rows(database, "webinar_attendance", "row_id")]
        assert [m.payload for m in mapped] == [t.payload for t in table]
        assert sum(1 for m in mapped if m.payload is None) == 6
