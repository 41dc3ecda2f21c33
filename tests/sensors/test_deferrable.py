"""``MarketingEventsSensor(deferrable=True)``: the default from ``[operators] default_deferrable``, one
poke before deferring, a trigger carrying ids only, and ``execute_complete`` giving poke mode's
outcomes (XCom value, timeout naming the missing ids, ``soft_fail`` skip, fatal errors); plus a
``dag.test()`` run, which runs the trigger in process. The real triggerer: ``test_deferrable_triggerer``."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from hubspot_events_provider.sandbox import SandboxServer
from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor
from hubspot_events_provider.triggers.marketing_events import MarketingEventsTrigger
from tests.sensors.test_marketing_events import object_id, reads, upsert


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT",
        json.dumps({"conn_type": "hubspot", "host": hubspot_sandbox.url, "password": hubspot_sandbox.token}),
    )
    return hubspot_sandbox


def deferrable(**kwargs: Any) -> MarketingEventsSensor:
    kwargs.setdefault("poke_interval", 0.5)
    kwargs.setdefault("timeout", 30)
    return MarketingEventsSensor(task_id="wait", deferrable=True, **kwargs)


@pytest.mark.parametrize(("setting", "expected"), [(None, False), ("True", True), ("False", False)])
def test_default_comes_from_operators_default_deferrable(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, expected: bool
) -> None:
    if setting is None:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", setting)
    assert MarketingEventsSensor(task_id="w", external_ids=[]).deferrable is expected
    assert (
        MarketingEventsSensor(task_id="w", external_ids=[], deferrable=not expected).deferrable
        is not expected
    )


def test_all_present_at_the_first_poke_returns_without_deferring(sandbox: SandboxServer) -> None:
    upsert(sandbox, "e1")
    result = deferrable(external_ids=[["acme", "e1"]]).execute({})
    assert result["object_ids"] == [object_id(sandbox, "e1")]


def test_missing_events_defer_with_ids_only(sandbox: SandboxServer) -> None:
    from airflow.providers.common.compat.sdk import TaskDeferred

    upsert(sandbox, "e1")
    sensor = deferrable(external_ids=[["acme", "e1"], ["acme", "e2"]], timeout=100)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, MarketingEventsTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["hubspot_conn_id"] == "hubspot_default"
    assert kwargs["keys"] == [["acme", "e2"]]  # only what is missing
    assert before + 100 <= kwargs["end_at"] <= time.time() + 100
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.kwargs["found"] == [["acme", "e1", object_id(sandbox, "e1")]]
    assert sandbox.token not in json.dumps([kwargs, deferred.value.kwargs])
    assert len(reads(sandbox)) == 2  # one poke on the worker


def complete(sensor: MarketingEventsSensor, event: dict[str, Any]) -> Any:
    return sensor.execute_complete(
        {},
        event,
        targets=[["acme", "e1"], ["acme", "e2"]],
        found=[["acme", "e1", "101"]],
        sampled_from=None,
    )


def test_success_event_gives_poke_modes_xcom_value() -> None:
    value = complete(deferrable(external_ids=[]), {"status": "success", "found": [["acme", "e2", "102"]]})
    assert value == {
        "found": [
            {"externalAccountId": "acme", "externalEventId": "e1", "objectId": "101"},
            {"externalAccountId": "acme", "externalEventId": "e2", "objectId": "102"},
        ],
        "object_ids": ["101", "102"],
        "checked": 2,
        "sampled_from": None,
        "verified": 0,
    }


def test_timeout_event_names_the_missing_ids() -> None:
    event = {"status": "timeout", "found": [], "missing": [["acme", "e2"]]}
    with pytest.raises(AirflowSensorTimeout, match=r"1 of 2 event\(s\) are still not readable.*acme/e2"):
        complete(deferrable(external_ids=[]), event)
    with pytest.raises(AirflowSkipException, match="acme/e2"):
        complete(deferrable(external_ids=[], soft_fail=True), event)


def test_error_events_fail_like_poke_mode() -> None:
    with pytest.raises(AirflowFailException, match="401"):
        complete(deferrable(external_ids=[]), {"status": "error", "fatal": True, "message": "HubSpot 401"})
    with pytest.raises(AirflowException, match="503") as raised:
        complete(deferrable(external_ids=[]), {"status": "error", "fatal": False, "message": "HubSpot 503"})
    assert not isinstance(raised.value, AirflowFailException)  # retries apply


@pytest.mark.usefixtures("airflow_db")
def test_dag_deferred_sensor_succeeds_after_events_appear(sandbox: SandboxServer) -> None:
    from tests.dags import sensor_dags

    upsert(sandbox, "d1")
    timer = threading.Timer(1.0, upsert, args=(sandbox, "d2"))
    timer.start()
    try:
        dr = sensor_dags.deferred.test(run_conf={"ids": [["acme", "d1"], ["acme", "d2"]]})
    finally:
        timer.join()
    (ti,) = dr.get_task_instances()
    assert ti.state == "success"
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dr.dag_id, XComModel.run_id == dr.run_id, XComModel.key == "return_value"
            )
        ).one()
        value = XComModel.deserialize_value(row)
    assert value["object_ids"] == [object_id(sandbox, "d1"), object_id(sandbox, "d2")]
