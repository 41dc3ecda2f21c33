"""The upsert operator's Airflow-native surface against the sandbox over real HTTP: the account
details read (portal id), OpenLineage facets (inputs per the naming spec, ``hubspot://<portalId>``
output with row count, schema and column lineage), ``hubspot://`` asset URIs and asset-event counts,
and the extra links. A ``dag.test()`` run checks the asset event and the links' XComs end to end."""

from __future__ import annotations

import json
import pathlib
import sqlite3
import urllib.parse
from typing import Any

import pytest

from hubspot_events_provider.assets import convert_asset_to_openlineage, create_asset, sanitize_uri
from hubspot_events_provider.lineage import file_dataset_name
from hubspot_events_provider.links import HubSpotMarketingEventsLink, HubSpotRejectedRowsLink
from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator
from hubspot_events_provider.sandbox import SandboxServer

ROWS = [
    {"id": "n1", "title": "Webinar 1", "acct": "acme", "org": "Acme", "topic": "ai"},
    {"id": "n2", "title": "Webinar 2", "acct": "acme", "org": "Acme", "topic": "ml"},
    {"id": "", "title": "no id", "acct": "acme", "org": "Acme", "topic": "x"},
]
FIELD_MAP = {
    "id": "externalEventId",
    "title": "eventName",
    "acct": "externalAccountId",
    "org": "eventOrganizer",
}


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT",
        json.dumps({"conn_type": "hubspot", "host": hubspot_sandbox.url, "password": hubspot_sandbox.token}),
    )
    return hubspot_sandbox


def operator(tmp_path: pathlib.Path, **kwargs: Any) -> UpsertMarketingEventsOperator:
    return UpsertMarketingEventsOperator(
        task_id="upsert",
        field_map=FIELD_MAP,
        custom_properties=["topic"],
        rejected_path=str(tmp_path / "rejected.jsonl"),
        **kwargs,
    )


def test_account_details_come_from_the_account_info_route(sandbox: SandboxServer) -> None:
    from hubspot_events_provider.hooks.hubspot import HubSpotHook

    hook = HubSpotHook()
    assert hook.get_portal_id() == str(sandbox.config.hub_id)
    assert hook.get_portal_id() == str(sandbox.config.hub_id)
    reads = [r for r in sandbox.requests() if r.path == "/account-info/v3/details"]
    assert len(reads) == 1  # cached per hook


def test_lineage_of_a_file_upsert(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    op = operator(tmp_path, events_file=str(source))
    summary = op.execute({})
    assert (summary["upserted"], summary["rejected"]) == (2, 1)
    assert summary["requests"] == 1  # the account read is not counted as upsert traffic

    lineage = op.get_openlineage_facets_on_complete(None)
    (source_ds,) = lineage.inputs
    assert (source_ds.namespace, source_ds.name) == ("file", str(source))
    (output,) = lineage.outputs
    assert (output.namespace, output.name) == (f"hubspot://{sandbox.config.hub_id}", "marketing-events")
    assert output.outputFacets["outputStatistics"].rowCount == 2
    schema = {f.name: f.type for f in output.facets["schema"].fields}
    assert schema["externalEventId"] == "string"
    assert schema["startDateTime"] == "timestamp"
    assert schema["eventCancelled"] == "boolean"
    columns = output.facets["columnLineage"].fields
    assert {
        target: [(i.namespace, i.name, i.field) for i in f.inputFields] for target, f in columns.items()
    } == {
        "externalEventId": [("file", str(source), "id")],
        "eventName": [("file", str(source), "title")],
        "externalAccountId": [("file", str(source), "acct")],
        "eventOrganizer": [("file", str(source), "org")],
        "customProperties": [("file", str(source), "topic")],
    }


def test_lineage_of_an_xcom_upsert_has_no_input(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    op = operator(tmp_path, events=ROWS[:1])
    op.execute({})
    lineage = op.get_openlineage_facets_on_complete(None)
    assert lineage.inputs == []
    assert [o.outputFacets["outputStatistics"].rowCount for o in lineage.outputs] == [1]
    assert "columnLineage" not in lineage.outputs[0].facets  # nothing to point at


def test_lineage_of_a_sql_upsert_names_the_tables(
    sandbox: SandboxServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "warehouse.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE webinars (id TEXT, title TEXT, acct TEXT, org TEXT, topic TEXT)")
        conn.executemany("INSERT INTO webinars VALUES (?, ?, ?, ?, ?)", [tuple(r.values()) for r in ROWS[:2]])
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    op = operator(tmp_path, sql="SELECT id, title, acct, org, topic FROM webinars", sql_conn_id="warehouse")
    op.execute({})
    lineage = op.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [(f"sqlite://{db}", "webinars")]
    assert lineage.outputs[0].outputFacets["outputStatistics"].rowCount == 2


def test_dry_run_reports_no_output(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    op = operator(tmp_path, events=ROWS[:1], dry_run=True)
    op.execute({})
    assert op.get_openlineage_facets_on_complete(None).outputs == []
    assert sandbox.requests() == []
    assert HubSpotMarketingEventsLink().get_link(op, ti_key=None) == ""


def test_links_point_at_the_portal_and_the_rejected_file(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    op = operator(tmp_path, events=ROWS)
    op.execute({})
    assert HubSpotMarketingEventsLink().get_link(op, ti_key=None) == (
        f"https://app.hubspot.com/marketing-events/{sandbox.config.hub_id}"
    )
    assert HubSpotRejectedRowsLink().get_link(op, ti_key=None) == f"file://{tmp_path / 'rejected.jsonl'}"
    clean = operator(tmp_path, events=ROWS[:2])
    clean.execute({})
    assert HubSpotRejectedRowsLink().get_link(clean, ti_key=None) == ""


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/data/x.jsonl", ("file", "/data/x.jsonl")),
        ("file:///data/x.jsonl", ("file", "/data/x.jsonl")),
        ("s3://bucket/exports/x.csv.gz", ("s3://bucket", "exports/x.csv.gz")),
        ("gs://bucket/x.json", ("gs://bucket", "x.json")),
        ("rel/x.jsonl", ("file", "/dags/rel/x.jsonl")),
    ],
)
def test_file_datasets_follow_the_naming_spec(location: str, expected: tuple[str, str]) -> None:
    assert file_dataset_name(location, "/dags") == expected


def test_hubspot_asset_uri_scheme() -> None:
    asset = create_asset(portal_id=62515)
    assert asset.uri == "hubspot://62515/marketing-events"
    ok = sanitize_uri(urllib.parse.urlsplit("hubspot://62515/marketing-events/"))
    assert ok.geturl() == "hubspot://62515/marketing-events"
    with pytest.raises(ValueError, match="numeric portal id"):
        sanitize_uri(urllib.parse.urlsplit("hubspot://acme/marketing-events"))
    with pytest.raises(ValueError, match="marketing-events"):
        sanitize_uri(urllib.parse.urlsplit("hubspot://62515/contacts"))
    dataset = convert_asset_to_openlineage(asset)
    assert (dataset.namespace, dataset.name) == ("hubspot://62515", "marketing-events")
