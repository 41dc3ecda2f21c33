"""DAGs for the upsert operator's ``dag.test()`` tests (``tests/operators/test_upsert_dag.py``).

One run exercises every Airflow-facing input path against the HubSpot sandbox named by the
``hubspot_default`` connection: a Jinja-rendered ``.jsonl`` template file (``events``), a
templated ``events_file`` whose value ends in ``.jsonl`` (must render inline, never be loaded as a
template file), an ``XComArg``, an ``ti.xcom_pull`` string, and a mapped upsert over XCom parts
with the default (per map index) rejected file. Each task uses its own ``externalAccountId`` so
the test can tell their events apart. ``upsert_dags_native`` is the same DAG rendering native
objects.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, get_current_context, task

from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator

_START = pendulum.datetime(2026, 1, 1, tz="UTC")
_FIELD_MAP = {"id": "externalEventId", "title": "eventName", "starts": "startDateTime"}
_OUT = "{{ dag_run.conf['out'] }}"


@task
def produce() -> Any:
    """The events of ``dag_run.conf["events"]`` as an XCom (a list of dicts)."""
    return get_current_context()["dag_run"].conf["events"]


@task
def parts() -> Any:
    """One list of events per map index, from ``dag_run.conf["parts"]``."""
    return get_current_context()["dag_run"].conf["parts"]


def _build(dag_id: str, *, native: bool) -> DAG:
    with DAG(
        dag_id,
        schedule=None,
        start_date=_START,
        catchup=False,
        params={"prefix": "Acme", "name": "events"},
        render_template_as_native_obj=native,
    ) as dag:
        UpsertMarketingEventsOperator(
            task_id="from_template",
            events="templates/upsert_events.jsonl",
            field_map=_FIELD_MAP,
            custom_properties=["region"],
            defaults={"externalAccountId": "tmpl", "eventOrganizer": "Acme"},
            timezone="Europe/Paris",
            rejected_path=_OUT + "/from_template.rejected.jsonl",
            results_path=_OUT + "/from_template.results.jsonl",
        )
        UpsertMarketingEventsOperator(
            task_id="from_file",
            events_file="data/upsert_{{ params.name }}.jsonl",
            field_map=_FIELD_MAP,
            custom_properties=["region"],
            defaults={"externalAccountId": "file", "eventOrganizer": "Acme"},
            rejected_path=_OUT + "/from_file.rejected.jsonl",
        )
        produced = produce()
        UpsertMarketingEventsOperator(
            task_id="from_xcomarg",
            events=produced,
            defaults={"externalAccountId": "xcomarg"},
            rejected_path=_OUT + "/from_xcomarg.rejected.jsonl",
        )
        pull = UpsertMarketingEventsOperator(
            task_id="from_xcom_pull",
            events="{{ ti.xcom_pull(task_ids='produce') }}",
            defaults={"externalAccountId": "pull"},
            rejected_path=_OUT + "/from_xcom_pull.rejected.jsonl",
        )
        produced >> pull
        UpsertMarketingEventsOperator.partial(
            task_id="mapped",
            defaults={"externalAccountId": "mapped"},
            batch_size=2,
        ).expand(events=parts())
    return dag


pipeline = _build("upsert_dags", native=False)
native_pipeline = _build("upsert_dags_native", native=True)
