"""The example pipelines in ``dags_example/``: they load cleanly and sync exactly the right events.

Every run is a real ``dag.test()`` against the local sandbox over loopback HTTP, with the SQLite
warehouse from :mod:`dags_example.warehouse`; assertions compare the sandbox's events with
:func:`dags_example.warehouse.expected_events` field by field.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from dags_example import warehouse
from hubspot_events_provider.core.kinds.events.mapper import HUBSPOT_FIELDS
from hubspot_events_provider.sandbox import SandboxServer
from tests.support import foreign_strings

DAGS_FOLDER = Path(__file__).parent / "dags"
EXAMPLES = {
    "hubspot_marketing_events_sync": "example_sync.py",
    "hubspot_marketing_events_reconcile": "example_reconcile.py",
    "hubspot_marketing_events_from_file": "example_from_file.py",
    "hubspot_marketing_events_scale_out": "example_scale_out.py",
    "hubspot_webinar_attendance": "example_webinar_attendance.py",
}
#: A manual run at this date covers the previous day, [DAY, DAY + 1 day): every generated row.
LOGICAL_DATE = warehouse.DAY + dt.timedelta(days=1)
INVALID_COUNT = len(warehouse.INVALID)


def _dagbag(path: Path) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(path))


def _stored(sandbox: SandboxServer) -> dict[tuple[str, str], dict[str, Any]]:
    """The sandbox's events in :func:`warehouse.expected_events` form."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for event in sandbox.events():
        fields = {name: event.get(name) for name in HUBSPOT_FIELDS if name != "customProperties"}
        fields["customProperties"] = {p["name"]: p["value"] for p in event.get("customProperties", [])}
        out[(event["externalAccountId"], event["externalEventId"])] = fields
    return out


def _differences(actual: dict[Any, dict[str, Any]], expected: dict[Any, dict[str, Any]]) -> list[Any]:
    """``(key, field, actual, expected)`` for every field that differs, ``(key, present?)`` for keys."""
    out: list[Any] = [(key, key in actual) for key in sorted(set(actual) ^ set(expected))]
    for key in sorted(set(actual) & set(expected)):
        for name in sorted(set(actual[key]) | set(expected[key])):
            got, want = actual[key].get(name), expected[key].get(name)
            if name in ("startDateTime", "endDateTime"):  # HubSpot answers with milliseconds
                got, want = _instant(got), _instant(want)
            if got != want:
                out.append((key, name, got, want))
    return out


def _instant(text: Any) -> Any:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if isinstance(text, str) else text


def _snapshot(sandbox: SandboxServer) -> dict[tuple[str, str], dict[str, Any]]:
    """Every stored field except HubSpot's ``updatedAt`` and property timestamps."""
    out = {}
    for event in sandbox.events():
        kept = {k: v for k, v in event.items() if k not in ("updatedAt", "customProperties")}
        kept["customProperties"] = sorted((p["name"], p["value"]) for p in event.get("customProperties", []))
        out[(event["externalAccountId"], event["externalEventId"])] = kept
    return out


def _xcom(dag_run: Any, task_id: str) -> Any:
    """The upsert summaries pushed by ``task_id`` in ``dag_run`` (a list for mapped tasks)."""
    tis = sorted(
        (ti for ti in dag_run.get_task_instances() if ti.task_id == task_id), key=lambda ti: ti.map_index
    )
    return [ti.xcom_pull(task_ids=task_id, map_indexes=ti.map_index) for ti in tis]


def _states(dag_run: Any) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def env(hubspot_sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Connections (HubSpot -> sandbox, warehouse -> a fresh SQLite file) and Variables for a run."""
    database = warehouse.build_warehouse(tmp_path / "warehouse.db")
    hubspot = {"conn_type": "hubspot", "host": hubspot_sandbox.url, "password": hubspot_sandbox.token}
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(hubspot))
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_PARTITIONED", json.dumps({**hubspot, "extra": {"max_requests_per_10s": 25}})
    )
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    monkeypatch.setenv("AIRFLOW_VAR_HUBSPOT_EVENTS_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("AIRFLOW_VAR_HUBSPOT_EVENTS_INBOX", str(tmp_path / "inbox"))
    return {"sandbox": hubspot_sandbox, "database": database, "tmp": tmp_path}


@pytest.mark.parametrize(("dag_id", "filename"), sorted(EXAMPLES.items()))
def test_example_dag_loads_without_errors_or_warnings(dag_id: str, filename: str) -> None:
    _dagbag(DAGS_FOLDER / "check_summary_dags.py")  # Airflow's own first-import warnings, not ours
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = _dagbag(DAGS_FOLDER / filename)
    assert bag.import_errors == {}
    assert list(bag.dags) == [dag_id]
    noisy = [
        f"{w.category.__name__}: {w.message}"
        for w in caught
        if issubclass(w.category, DeprecationWarning | FutureWarning)
    ]
    assert noisy == []
    dag = bag.dags[dag_id]
    assert dag.doc_md
    assert all(task.doc_md for task in dag.tasks)


@pytest.mark.parametrize(("dag_id", "filename"), sorted(EXAMPLES.items()))
def test_example_dag_serializes_for_the_dag_processor(dag_id: str, filename: str) -> None:
    """The dag-processor sends ``to_dict(dag)`` over msgpack, which takes plain ``str`` only."""
    try:
        from airflow.serialization.serialized_objects import DagSerialization as Serializer
    except ImportError:  # Airflow 3.0
        from airflow.serialization.serialized_objects import SerializedDAG as Serializer

    dag = _dagbag(DAGS_FOLDER / filename).dags[dag_id]
    data = Serializer.to_dict(dag)

    assert foreign_strings(data) == []


@pytest.mark.airflow_db
def test_sync_upserts_exactly_the_valid_latest_rows(airflow_db: None, env: dict[str, Any]) -> None:
    from dags_example.hubspot_marketing_events_sync import dag

    dag_run = dag.test(logical_date=LOGICAL_DATE)

    assert _states(dag_run) == {
        ("upsert_marketing_events", -1): "success",
        ("check_upsert_errors", -1): "success",
        ("wait_for_events_in_hubspot", -1): "success",
    }
    expected = warehouse.expected_events(env["database"])
    assert len(expected) == 297
    assert _differences(_stored(env["sandbox"]), expected) == []
    [summary] = _xcom(dag_run, "upsert_marketing_events")
    assert {k: summary[k] for k in ("total", "upserted", "rejected", "failed", "superseded")} == {
        "total": 301,
        "upserted": 297,
        "rejected": INVALID_COUNT,
        "failed": 0,
        "superseded": 1,
    }
    rejected = _read_jsonl(Path(summary["rejected_path"]))
    assert sorted((r["stage"], r["category"], r["row"]["event_id"]) for r in rejected) == sorted(
        [
            ("validation", "END_BEFORE_START", "wor-2025-0018"),
            ("validation", "INVALID_DATETIME", "con-2025-0059"),
            ("validation", "MISSING_REQUIRED_FIELD", "web-2025-0124"),
            ("superseded", "SUPERSEDED", "wor-2025-0201"),
        ]
    )
    assert Path(summary["results_path"]).is_file()


@pytest.mark.airflow_db
def test_sync_rerun_is_idempotent_and_a_changed_row_updates_only_its_event(
    airflow_db: None, env: dict[str, Any]
) -> None:
    from dags_example.hubspot_marketing_events_sync import dag

    sandbox: SandboxServer = env["sandbox"]
    dag.test(logical_date=LOGICAL_DATE)
    first = _snapshot(sandbox)
    creates = sandbox.stats()["creates"]

    rerun = dag.test(logical_date=LOGICAL_DATE)
    assert _states(rerun)[("check_upsert_errors", -1)] == "success"
    assert _snapshot(sandbox) == first
    assert sandbox.stats()["creates"] == creates

    next_day = LOGICAL_DATE + dt.timedelta(days=1)
    warehouse.update_event(
        env["database"],
        "con-2025-0002",
        LOGICAL_DATE + dt.timedelta(hours=3),
        event_name="Lakehouse Summit Berlin",
    )
    changed = dag.test(logical_date=next_day)
    [summary] = _xcom(changed, "upsert_marketing_events")
    assert (summary["total"], summary["upserted"], summary["rejected"]) == (1, 1, 0)
    after = _snapshot(sandbox)
    key = (warehouse.ACCOUNT_ID, "con-2025-0002")
    assert after[key]["eventName"] == "Lakehouse Summit Berlin"
    assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in first.items() if k != key}
    assert {k: v for k, v in after[key].items() if k != "eventName"} == {
        k: v for k, v in first[key].items() if k != "eventName"
    }


@pytest.mark.airflow_db
def test_sync_with_a_misspelled_custom_property_ends_red_in_the_sensor(
    airflow_db: None, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import importlib

    import dags_example.hubspot_marketing_events_sync as sync

    monkeypatch.setenv("HUBSPOT_EVENTS_DEMO_MISSPELL", "1")  # what `make demo` with --misspell sets
    try:
        dag_run = importlib.reload(sync).dag.test(logical_date=LOGICAL_DATE)
    finally:
        monkeypatch.delenv("HUBSPOT_EVENTS_DEMO_MISSPELL")
        importlib.reload(sync)
    logged = "".join(capfd.readouterr())
    # HubSpot answered success for every row: the upsert and the check are green, the sensor is red.
    assert _states(dag_run) == {
        ("upsert_marketing_events", -1): "success",
        ("check_upsert_errors", -1): "success",
        ("wait_for_events_in_hubspot", -1): "failed",
    }
    assert "custom property 'capcity' was dropped by HubSpot" in logged
    assert env["sandbox"].stats()["dropped_custom_properties"] > 0
    [summary] = _xcom(dag_run, "upsert_marketing_events")
    assert (summary["upserted"], summary["failed"]) == (297, 0)


@pytest.mark.airflow_db
def test_sync_with_nothing_changed_succeeds_and_sends_nothing(airflow_db: None, env: dict[str, Any]) -> None:
    from dags_example.hubspot_marketing_events_sync import dag

    dag_run = dag.test(logical_date=LOGICAL_DATE + dt.timedelta(days=3))

    assert set(_states(dag_run).values()) == {"success"}
    assert env["sandbox"].events() == []
    [summary] = _xcom(dag_run, "upsert_marketing_events")
    assert (summary["total"], summary["upserted"]) == (0, 0)


@pytest.mark.airflow_db
@pytest.mark.parametrize("extension", ["jsonl", "csv.gz"])
def test_from_file_upserts_the_days_export(airflow_db: None, env: dict[str, Any], extension: str) -> None:
    from dags_example.hubspot_marketing_events_from_file import dag

    inbox = env["tmp"] / "inbox"
    warehouse.export_file(env["database"], inbox / f"marketing_events_{LOGICAL_DATE:%Y-%m-%d}.{extension}")

    dag_run = dag.test(logical_date=LOGICAL_DATE, run_conf={"file_extension": extension})

    assert set(_states(dag_run).values()) == {"success"}
    assert _differences(_stored(env["sandbox"]), warehouse.expected_events(env["database"])) == []
    rejected = _read_jsonl(inbox / f"marketing_events_{LOGICAL_DATE:%Y-%m-%d}.rejected.jsonl")
    assert sorted((r["stage"], r["row"]["id"]) for r in rejected) == [
        ("superseded", "wor-2025-0201"),
        ("validation", "con-2025-0059"),
        ("validation", "web-2025-0124"),
        ("validation", "wor-2025-0018"),
    ]


@pytest.mark.airflow_db
def test_scale_out_partitions_cover_every_event_once(airflow_db: None, env: dict[str, Any]) -> None:
    from dags_example.hubspot_marketing_events_scale_out import PARTITIONS, dag

    dag_run = dag.test(logical_date=LOGICAL_DATE)

    states = _states(dag_run)
    assert states == {
        **{("upsert_marketing_events", i): "success" for i in range(PARTITIONS)},
        ("check_upsert_errors", -1): "success",
        ("verify_in_hubspot", -1): "success",
    }
    assert _differences(_stored(env["sandbox"]), warehouse.expected_events(env["database"])) == []
    summaries = _xcom(dag_run, "upsert_marketing_events")
    assert len(summaries) == PARTITIONS
    assert all(s["total"] > 0 for s in summaries)
    assert sum(s["total"] for s in summaries) == 301
    assert sum(s["upserted"] for s in summaries) == 297
    assert sum(s["rejected"] for s in summaries) == INVALID_COUNT
