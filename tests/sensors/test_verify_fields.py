"""MarketingEventsSensor(verify_fields=True): the sampled events' stored fields against what the
upsert sent (recorded in its results file), over real HTTP against the sandbox, and in ``dag.test()``
runs of ``tests/dags/verify_dags.py``."""

from __future__ import annotations

import io
import json
import pathlib
import threading
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSensorTimeout

from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import rows_from_events
from hubspot_events_provider.sandbox import SandboxServer
from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor
from tests.support import event, make_client, wait_out_read_lag


def upsert(sandbox: SandboxServer, rows: list[dict[str, Any]], path: pathlib.Path, **mapper: Any) -> None:
    """Upsert ``rows`` through the pipeline, writing its results file to ``path``."""
    buf = io.BytesIO()
    client = make_client(sandbox)
    try:
        report = UpsertReport(results=JsonLinesWriter(buf))
        run_upsert(rows_from_events(rows), EventMapper(**mapper), client, report, options=UpsertOptions())
    finally:
        client.close()
    path.write_bytes(buf.getvalue())
    wait_out_read_lag(sandbox)  # HubSpot's read lag: these tests are of what the sensor reads after it


def reads(sandbox: SandboxServer) -> int:
    return sum(1 for r in sandbox.requests() if r.method == "GET" and "/events/" in r.path)


def sensor(results: pathlib.Path, **kwargs: Any) -> MarketingEventsSensor:
    kwargs.setdefault("poke_interval", 0.02)
    kwargs.setdefault("timeout", 30)
    return MarketingEventsSensor(task_id="wait", results_path=str(results), **kwargs)


ROWS = [event(i, region="emea", seats=20 + i) for i in range(40)]


def test_fields_stored_as_sent_pass_and_reads_stay_bounded(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    results = tmp_path / "results.jsonl"
    upsert(sandbox, ROWS, results, custom_properties={"region": "region", "seats": "capacity"})
    before = reads(sandbox)
    value = sensor(results, sample_size=5).execute({})
    assert (value["checked"], value["verified"], value["sampled_from"]) == (5, 5, 40)
    assert reads(sandbox) - before == 5  # one read per sampled event: found and compared at once


def test_a_misspelled_custom_property_fails_naming_it(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    results = tmp_path / "results.jsonl"
    upsert(sandbox, ROWS, results, custom_properties={"region": "region", "seats": "capcity"})
    before = reads(sandbox)
    with pytest.raises(AirflowFailException) as failed:
        sensor(results, sample_size=4).execute({})
    message = str(failed.value)
    assert message.startswith(
        "HubSpot does not hold what was sent for 4 of 4 sampled event(s): custom property 'capcity' was "
        "dropped by HubSpot in 4 of 4 sampled event(s) (e.g. event 'evt-"
    )
    assert "check the spelling, or create the property in HubSpot" in message
    assert message.count("capcity") == 1  # said once, not once per event
    assert "region" not in message  # the defined property is fine
    assert reads(sandbox) - before == 4  # failed on the first poke, no waiting for a dropped property
    # verify_fields=False only waits until the events are readable.
    assert sensor(results, sample_size=4, verify_fields=False).execute({})["verified"] == 0


def test_a_value_that_differs_is_read_again_then_fails_at_timeout_with_both_values(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    results = tmp_path / "results.jsonl"
    upsert(sandbox, ROWS[:2], results, custom_properties=["region"], ignore_fields=["seats"])
    # Another writer renames evt-1 in HubSpot after our upsert.
    upsert(
        sandbox,
        [event(1, eventName="Renamed", region="emea")],
        tmp_path / "other.jsonl",
        custom_properties=["region"],
    )
    with pytest.raises(AirflowSensorTimeout) as timed_out:
        sensor(results, sample_size=2, timeout=0.3, poke_interval=0.05).execute({})
    message = str(timed_out.value)
    assert "1 of 2 event(s) still differ in HubSpot from what was sent" in message
    assert (
        "event 'evt-1' (externalAccountId 'acme'): eventName: sent 'Webinar 1', HubSpot holds 'Renamed'"
        in message
    )


def test_a_difference_that_heals_between_pokes_ends_green(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    results = tmp_path / "results.jsonl"
    upsert(sandbox, ROWS[:3], results, custom_properties=["region"], ignore_fields=["seats"])
    upsert(sandbox, [event(2, eventName="Stale")], tmp_path / "other.jsonl")
    wait = sensor(results, sample_size=3, poke_interval=0.05)
    assert wait.poke({}) is False  # evt-2 differs: read again next time
    fix = threading.Thread(
        target=upsert,
        args=(sandbox, [event(2)], tmp_path / "fix.jsonl"),
        kwargs={"ignore_fields": ["region", "seats"]},
    )
    fix.start()
    fix.join()
    before = reads(sandbox)
    value = wait.execute({})
    assert value["verified"] == 3
    assert reads(sandbox) - before == 1  # only the event that differed is read again


def test_a_results_file_without_sent_values_is_only_waited_for(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    results = tmp_path / "results.jsonl"
    upsert(sandbox, ROWS[:3], results, custom_properties={"region": "regoin"}, ignore_fields=["seats"])
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    results.write_text(
        "".join(json.dumps({k: v for k, v in line.items() if k != "sent"}) + "\n" for line in lines)
    )
    assert sensor(results, sample_size=3).execute({})["verified"] == 0


def _run(dag: Any, conf: dict[str, Any]) -> dict[str, str]:
    dr = dag.test(run_conf=conf)
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("misspelled", [False, True])
def test_dag_ends_red_in_the_sensor_naming_a_dropped_property(
    sandbox: SandboxServer, tmp_path: pathlib.Path, capfd: pytest.CaptureFixture[str], misspelled: bool
) -> None:
    from tests.dags import verify_dags

    events = [{"externalEventId": f"v{i}", "eventName": f"Webinar {i}", "region": "emea"} for i in range(6)]
    dag = verify_dags.misspelled if misspelled else verify_dags.correct
    states = _run(dag, {"events": events, "out": str(tmp_path)})
    logged = "".join(capfd.readouterr())  # the task logs (and its failure) go to the console
    if states["upsert"] == "failed" and not sandbox.requests():
        pytest.skip("dag.test() cannot start any task in this Airflow install (Execution API refused it)")
    summary_line = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])
    assert summary_line["sent"]["customProperties"] == [
        {"name": "regoin" if misspelled else "region", "value": "emea"}
    ]
    if misspelled:
        # The upsert and the check are green: HubSpot answered success. The sensor is not.
        assert states == {"upsert": "success", "check": "success", "wait": "failed"}
        assert "custom property 'regoin' was dropped by HubSpot" in logged
    else:
        assert states == {"upsert": "success", "check": "success", "wait": "success"}
        assert "was dropped" not in logged
