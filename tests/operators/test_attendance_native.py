"""The attendance operator's Airflow-native surface against the sandbox over real HTTP, as the
upsert's (``test_native.py``): OpenLineage facets (inputs per the naming spec, the
``hubspot://<portalId>`` / ``marketing-event-participations`` output with the recorded count, its
schema and column lineage from ``field_map`` and ``contact_properties``), the extra links, the
``hubspot://`` asset URI of participations, and a ``dag.test()`` run whose outlet's asset event
carries the run's counts."""

from __future__ import annotations

import json
import pathlib
import sqlite3
import urllib.parse
from typing import Any

import pytest

from hubspot_events_provider.assets import convert_asset_to_openlineage, create_asset, sanitize_uri
from hubspot_events_provider.links import HubSpotMarketingEventsLink, HubSpotRejectedRowsLink
from hubspot_events_provider.operators.marketing_events import RecordMarketingEventAttendanceOperator
from hubspot_events_provider.sandbox import SandboxServer
from tests.operators.test_attendance import MAPPING, ROWS
from tests.support import connect, event, make_client

ACCOUNT_READ = "/account-info/v3/details"


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    connect(monkeypatch, hubspot_sandbox, max_requests_per_10s=10_000)
    with make_client(hubspot_sandbox) as client:
        client.upsert_events([event(1)])
    return hubspot_sandbox


def run_requests(sandbox: SandboxServer) -> list[Any]:
    """The requests of the run under test (the fixture's event upsert left out)."""
    return [r for r in sandbox.requests() if not r.path.endswith("/events/upsert")]


def operator(tmp_path: pathlib.Path, **kwargs: Any) -> RecordMarketingEventAttendanceOperator:
    return RecordMarketingEventAttendanceOperator(
        task_id="record", rejected_path=str(tmp_path / "rejected.jsonl"), **MAPPING, **kwargs
    )


def attendance_posts(sandbox: SandboxServer) -> list[Any]:
    return [r for r in sandbox.requests() if r.method == "POST" and "/attendance/" in r.path]


def test_lineage_of_a_file_run(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    source = tmp_path / "attendance.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    op = operator(tmp_path, attendance_file=str(source))
    summary = op.execute({})
    assert (summary["upserted"], summary["rejected"], summary["failed"]) == (3, 2, 2)
    # One account read, after the run: not counted as attendance traffic.
    assert [r.path for r in run_requests(sandbox) if r.path == ACCOUNT_READ] == [ACCOUNT_READ]
    assert summary["requests"] == len(attendance_posts(sandbox))

    lineage = op.get_openlineage_facets_on_complete(None)
    (source_ds,) = lineage.inputs
    assert (source_ds.namespace, source_ds.name) == ("file", str(source))
    (output,) = lineage.outputs
    assert (output.namespace, output.name) == (
        f"hubspot://{sandbox.config.hub_id}",
        "marketing-event-participations",
    )
    # Recorded rows: Ann's registration and attendance, contact 151's registration.
    assert output.outputFacets["outputStatistics"].rowCount == 3
    assert sorted((p["email"], p["state"]) for p in sandbox.participations()) == [
        ("ann@example.com", "ATTENDED"),
        ("sam.small@example.com", "REGISTERED"),  # the seeded contact 151
    ]
    assert [(f.name, f.type) for f in output.facets["schema"].fields] == [
        ("externalAccountId", "string"),
        ("externalEventId", "string"),
        ("subscriberState", "string"),
        ("email", "string"),
        ("vid", "bigint"),
        ("interactionDateTime", "timestamp"),
        ("joinedAt", "timestamp"),
        ("leftAt", "timestamp"),
        ("contactProperties", "map<string,string>"),
    ]
    columns = output.facets["columnLineage"].fields
    assert {
        target: [(i.namespace, i.name, i.field) for i in f.inputFields] for target, f in columns.items()
    } == {
        "externalEventId": [("file", str(source), "event")],
        "subscriberState": [("file", str(source), "action")],
        "email": [("file", str(source), "mail")],
        "interactionDateTime": [("file", str(source), "at")],
        "joinedAt": [("file", str(source), "joined")],
        "leftAt": [("file", str(source), "left")],
        "contactProperties": [("file", str(source), "first")],
    }


def test_lineage_of_an_xcom_run_has_no_input(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    op = operator(tmp_path, attendance=ROWS[:2])
    op.execute({})
    lineage = op.get_openlineage_facets_on_complete(None)
    assert lineage.inputs == []
    assert [(o.name, o.outputFacets["outputStatistics"].rowCount) for o in lineage.outputs] == [
        ("marketing-event-participations", 2)
    ]
    assert "columnLineage" not in lineage.outputs[0].facets  # nothing to point at


def test_lineage_of_a_sql_run_names_the_tables(
    sandbox: SandboxServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "warehouse.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE zoom_registrants (event TEXT, action TEXT, mail TEXT, at TEXT)")
        conn.executemany(
            "INSERT INTO zoom_registrants VALUES (?, ?, ?, ?)",
            [("evt-1", "register", f"r{i}@example.com", "2026-11-20T08:00:00Z") for i in range(3)],
        )
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    op = operator(
        tmp_path, sql="SELECT event, action, mail, at FROM zoom_registrants", sql_conn_id="warehouse"
    )
    assert op.execute({})["upserted"] == 3
    lineage = op.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [(f"sqlite://{db}", "zoom_registrants")]
    assert lineage.outputs[0].outputFacets["outputStatistics"].rowCount == 3


def test_dry_run_reports_no_output_and_reads_nothing(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    op = operator(tmp_path, attendance=ROWS[:2], dry_run=True)
    assert op.execute({})["would_upsert"] == 2
    assert op.get_openlineage_facets_on_complete(None).outputs == []
    assert run_requests(sandbox) == []
    assert HubSpotMarketingEventsLink().get_link(op, ti_key=None) == ""


def test_links_point_at_the_portal_and_the_rejected_file(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    op = operator(tmp_path, attendance=ROWS)
    op.execute({})
    assert HubSpotMarketingEventsLink().get_link(op, ti_key=None) == (
        f"https://app.hubspot.com/marketing-events/{sandbox.config.hub_id}"
    )
    assert HubSpotRejectedRowsLink().get_link(op, ti_key=None) == f"file://{tmp_path / 'rejected.jsonl'}"
    clean = operator(tmp_path, attendance=ROWS[:2])
    clean.execute({})
    assert HubSpotRejectedRowsLink().get_link(clean, ti_key=None) == ""
    assert {type(link) for link in op.operator_extra_links} == {
        HubSpotMarketingEventsLink,
        HubSpotRejectedRowsLink,
    }


def test_participations_asset_uri() -> None:
    asset = create_asset(portal_id=62515, name="marketing-event-participations")
    assert asset.uri == "hubspot://62515/marketing-event-participations"
    ok = sanitize_uri(urllib.parse.urlsplit("hubspot://62515/marketing-event-participations/"))
    assert ok.geturl() == "hubspot://62515/marketing-event-participations"
    dataset = convert_asset_to_openlineage(asset)
    assert (dataset.namespace, dataset.name) == ("hubspot://62515", "marketing-event-participations")
    with pytest.raises(ValueError, match="marketing-event-participations"):
        sanitize_uri(urllib.parse.urlsplit("hubspot://62515/participations"))


@pytest.mark.usefixtures("airflow_db")
def test_dag_run_sends_counts_to_the_participations_asset(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    from airflow import __version__ as airflow_version
    from airflow.models.asset import AssetEvent
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from tests.dags.attendance_native_dags import attendance

    if airflow_version.startswith("3.0."):
        # As for the upsert's asset test: 3.0's dag.test() leaves a new asset inactive and the task
        # then fails on its outlet (AirflowInactiveAssetInInletOrOutletException).
        pytest.skip("dag.test() cannot run a task with an asset outlet on Airflow 3.0")
    source = tmp_path / "attendance.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    rejected = tmp_path / "rejected.jsonl"
    dr = attendance.test(run_conf={"path": str(source), "rejected_path": str(rejected)})
    assert {ti.task_id: ti.state for ti in dr.get_task_instances()} == {"record": "success"}
    with create_session() as session:
        xcoms = {
            row.key: XComModel.deserialize_value(row)
            for row in session.scalars(
                select(XComModel).where(XComModel.dag_id == dr.dag_id, XComModel.run_id == dr.run_id)
            )
        }
        events = list(session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == dr.run_id)))
        extras = [(e.asset.uri, e.extra) for e in events]
    summary = xcoms["return_value"]
    assert (summary["total"], summary["upserted"], summary["rejected"], summary["failed"]) == (7, 3, 2, 2)
    assert extras == [
        (
            "hubspot://62515/marketing-event-participations",
            {
                "upserted": 3,
                "rejected": 2,
                "failed": 2,
                "total": 7,
                "error_rate": summary["error_rate"],
                "rejected_path": str(rejected),
            },
        )
    ]
    assert xcoms["_link_HubSpotMarketingEventsLink"] == "https://app.hubspot.com/marketing-events/62515"
    assert xcoms["_link_HubSpotRejectedRowsLink"] == f"file://{rejected}"
