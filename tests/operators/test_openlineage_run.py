"""An OpenLineage run end to end (``slow``): ``airflow dags test`` of a file upsert against the
sandbox with the OpenLineage provider's file transport; the COMPLETE event names the file as input
and ``hubspot://<portalId>`` / ``marketing-events`` as output with its row count and column lineage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubspot_events_provider.sandbox import SandboxServer

REPO = Path(__file__).resolve().parents[2]

pytest.importorskip("airflow.providers.openlineage")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_openlineage_file_transport_gets_input_output_counts_and_column_lineage(
    hubspot_sandbox: SandboxServer, tmp_path: Path
) -> None:
    source = tmp_path / "events.jsonl"
    rows = [{"id": f"o{i}", "title": f"Webinar {i}", "topic": "ai"} for i in range(3)] + [
        {"id": "", "title": "x"}
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    events_file = tmp_path / "lineage.jsonl"
    home = tmp_path / "airflow"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "OPENLINEAGE"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "tests" / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(events_file), "append": True}
            ),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "tests",
            "AIRFLOW_CONN_HUBSPOT_DEFAULT": json.dumps(
                {"conn_type": "hubspot", "host": hubspot_sandbox.url, "password": hubspot_sandbox.token}
            ),
            "PYTHONPATH": str(REPO),
        }
    )
    airflow = str(Path(sys.executable).with_name("airflow"))
    log = tmp_path / "airflow.log"
    with log.open("ab") as out:
        assert (
            subprocess.run(
                [airflow, "db", "migrate"], env=env, stdout=out, stderr=out, timeout=180
            ).returncode
            == 0
        )
        run = subprocess.run(
            [airflow, "dags", "test", "native_file_upsert", "-c", json.dumps({"path": str(source)})],
            env=env,
            stdout=out,
            stderr=out,
            timeout=240,
        )
    assert run.returncode == 0, log.read_text()[-3000:]
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    complete = [
        e
        for e in events
        if e.get("eventType") == "COMPLETE" and e["job"]["name"].endswith("native_file_upsert.upsert")
    ]
    assert len(complete) == 1, [(e.get("eventType"), e["job"]["name"]) for e in events]
    (event,) = complete
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [("file", str(source))]
    (output,) = event["outputs"]
    assert (output["namespace"], output["name"]) == (
        f"hubspot://{hubspot_sandbox.config.hub_id}",
        "marketing-events",
    )
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 3
    columns = output["facets"]["columnLineage"]["fields"]
    assert [(f["namespace"], f["name"], f["field"]) for f in columns["externalEventId"]["inputFields"]] == [
        ("file", str(source), "id")
    ]
    assert columns["customProperties"]["inputFields"][0]["field"] == "topic"
    assert {f["name"] for f in output["facets"]["schema"]["fields"]} >= {"externalEventId", "eventName"}
    assert hubspot_sandbox.token not in events_file.read_text()
