"""HubSpot unreachable for the whole run, and misconfiguration caught at DAG parse or task start.

Unreachable: a closed loopback port; the run fails with a transport error naming the request
(after the small retry budget), nothing is reported upserted and no summary is produced.
Misconfiguration: unknown ``api_version``, both or neither input, ``batch_size`` over 100, a check
threshold out of range: each is a clear ``ValueError`` when the DAG file is parsed or the task starts.
"""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hubspot_events_provider.core.errors import HubSpotTransportError
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions
from tests.reliability.conftest import Recorder
from tests.reliability.harness import fast_config, make_workload, run_core


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("max_in_flight", "overlap"), [(1, False), (4, False), (4, True)])
def test_unreachable_hubspot_fails_with_a_transport_error_and_reports_nothing_upserted(
    max_in_flight: int, overlap: bool, record_run: Recorder
) -> None:
    w = make_workload(200, seed=1)
    config = fast_config(
        f"http://127.0.0.1:{closed_port()}", max_retries=3, max_retry_time=3.0, connect_timeout=0.5
    )
    out = run_core(
        w.rows,
        None,
        config=config,
        options=UpsertOptions(batch_size=20, max_in_flight=max_in_flight, overlap=overlap),
    )
    assert isinstance(out.error, HubSpotTransportError), repr(out.error)
    text = str(out.error)
    assert "connection failed" in text
    assert "POST /marketing/marketing-events/2026-03/events/upsert" in text
    assert out.report.upserted == 0
    assert out.results == []
    # Only rows decided before sending (validation, duplicates) are in the rejected file; when
    # reading overlaps sending, the first batch's failure ends the run: the rows read by then.
    assert {r["stage"] for r in out.rejected} <= {"validation", "superseded"}
    rejected = {r["position"] for r in out.rejected}
    if overlap:
        assert rejected <= w.invalid | w.superseded
        assert rejected & w.invalid
    else:
        assert rejected == w.invalid | w.superseded
    record_run(
        {"events": len(w.rows), "faults": {"unreachable": 1}, "lost": 0, "duplicates": 0, "leaks": 0},
        outcome="failed:HubSpotTransportError",
    )


# -- misconfiguration -------------------------------------------------------------------------------


def test_unknown_api_version_is_refused() -> None:
    with pytest.raises(ValueError, match="Unsupported HubSpot api_version '2025-01'; use one of 2026-03"):
        ClientConfig(base_url="http://127.0.0.1:1", api_version="2025-01")


def test_unknown_api_version_on_the_connection_fails_at_task_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from hubspot_events_provider.hooks.hubspot import HubSpotHook

    conn = {
        "conn_type": "hubspot",
        "host": "http://127.0.0.1:1",
        "password": "x",
        "extra": {"api_version": "v9"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(conn))
    with pytest.raises(
        ValueError, match="HubSpot connection 'hubspot_default': Unsupported HubSpot api_version 'v9'"
    ):
        HubSpotHook().get_conn()


EVENTS = [{"externalEventId": "e1"}]

BAD_UPSERT_ARGS: list[tuple[dict[str, Any], str]] = [
    (
        {"events": EVENTS, "events_file": "x.json"},
        "exactly one input of events, events_file or sql; got events, events_file",
    ),
    ({"events": EVENTS, "sql": "select 1", "sql_conn_id": "db"}, "got events, sql"),
    ({}, "exactly one input of events, events_file or sql; got none"),
    ({"events": EVENTS, "batch_size": 101}, "batch_size must be between 1 and 100, got 101"),
    ({"events": EVENTS, "batch_size": 0}, "batch_size must be between 1 and 100, got 0"),
    ({"events": EVENTS, "max_in_flight": 0}, "max_in_flight must be between 1 and 64"),
    ({"events": EVENTS, "token": "pat-na1-x"}, "The argument 'token' is refused"),
]

BAD_CHECK_ARGS: list[tuple[dict[str, Any], str]] = [
    ({"max_error_rate": 1.5}, r"max_error_rate must be a fraction of total in \[0, 1\], got 1.5"),
    ({"max_error_rate": -0.1}, r"max_error_rate must be a fraction of total in \[0, 1\], got -0.1"),
    ({"max_errors": -1}, "max_errors must be an integer >= 0, got -1"),
    ({"max_errors_by_stage": {"hubspott": 0}}, "max_errors_by_stage keys must be among"),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(("kwargs", "message"), BAD_UPSERT_ARGS)
def test_bad_upsert_arguments_fail_at_parse(kwargs: dict[str, Any], message: str) -> None:
    from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator

    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        UpsertMarketingEventsOperator(task_id="upsert", **kwargs)


@pytest.mark.parametrize(("kwargs", "message"), BAD_CHECK_ARGS)
def test_bad_check_thresholds_fail_at_parse(kwargs: dict[str, Any], message: str) -> None:
    from hubspot_events_provider.operators.marketing_events import MarketingEventsUpsertCheckOperator

    with pytest.raises(ValueError, match=message):
        MarketingEventsUpsertCheckOperator(task_id="check", upsert_task_id="upsert", **kwargs)


def test_a_misconfigured_dag_file_is_an_import_error_naming_the_problem(tmp_path: Path) -> None:
    try:  # Airflow >= 3.1 moved DagBag; the old path warns there
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # pragma: no cover - the 3.0 floor
        from airflow.models.dagbag import DagBag

    dag_file = tmp_path / "misconfigured.py"
    dag_file.write_text(
        textwrap.dedent(
            """
            import pendulum
            from airflow.sdk import DAG
            from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator

            with DAG("misconfigured", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
                UpsertMarketingEventsOperator(task_id="upsert", events=[], batch_size=250)
            """
        ),
        encoding="utf-8",
    )
    bag = DagBag(dag_folder=str(tmp_path))
    assert "misconfigured" not in bag.dags
    errors = list(bag.import_errors.values())
    assert len(errors) == 1
    assert "batch_size must be between 1 and 100, got 250" in errors[0]
