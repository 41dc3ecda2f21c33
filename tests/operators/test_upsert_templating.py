"""Templating of UpsertMarketingEventsOperator, without a run: ``render_template_fields`` and the
DagBag's parse-time ``resolve_template_files``.

``events`` may name a ``.json``/``.jsonl`` template file that Jinja loads and renders; the path
parameters (``events_file``, ``rejected_path``, ``results_path``) are templated *strings* even when
they end in ``.json``/``.jsonl``, so ``{{ ds }}`` in them renders and no file is loaded in their place.
"""

from __future__ import annotations

import copy
import json
import pathlib
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from hubspot_events_provider.operators.upsert import UpsertMarketingEventsOperator
from tests.support import foreign_strings

TEMPLATE = (
    '{"externalEventId": "e-{{ ds }}", "eventName": "{{ params.prefix }} day", "flag": true, "x": null}\n'
)


def context() -> dict[str, Any]:
    return {"ds": "2026-11-28", "ds_nodash": "20261128", "params": {"prefix": "Acme"}}


def make(tmp_path: pathlib.Path, *, native: bool = False, **kwargs: Any) -> UpsertMarketingEventsOperator:
    (tmp_path / "ev.jsonl").write_text(TEMPLATE)
    (tmp_path / "ev.json").write_text("[" + TEMPLATE.strip() + "]")
    with DAG(
        "templating",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        template_searchpath=[str(tmp_path)],
        params={"prefix": "Acme"},
        render_template_as_native_obj=native,
    ):
        return UpsertMarketingEventsOperator(task_id="upsert", **kwargs)


@pytest.mark.parametrize(
    ("field", "value", "rendered"),
    [
        ("events_file", "data/{{ ds }}.jsonl", "data/2026-11-28.jsonl"),
        ("events_file", "s3://bucket/export_{{ ds_nodash }}.json", "s3://bucket/export_20261128.json"),
        ("events_file", "/in/{{ ds }}.csv.gz", "/in/2026-11-28.csv.gz"),
        ("rejected_path", "/out/{{ ds }}/rejected.jsonl", "/out/2026-11-28/rejected.jsonl"),
        ("rejected_path", "ev.jsonl", "ev.jsonl"),  # even a name the template search path holds
        ("results_path", "/out/results_{{ ds }}.json", "/out/results_2026-11-28.json"),
        ("results_path", "gs://b/{{ params.prefix }}.ndjson", "gs://b/Acme.ndjson"),
    ],
)
@pytest.mark.parametrize("native", [False, True], ids=["plain", "native"])
def test_paths_render_inline_even_with_a_template_extension(
    tmp_path: pathlib.Path, field: str, value: str, rendered: str, native: bool
) -> None:
    kwargs: dict[str, Any] = {"events": [], field: value} if field != "events_file" else {field: value}
    op = make(tmp_path, native=native, **kwargs)
    op.resolve_template_files()  # parse time (DagBag): must leave the path alone
    assert getattr(op, field) == value
    assert type(getattr(op, field)) is str  # plain str: the serialized DAG goes through msgpack
    op.render_template_fields(context())
    assert getattr(op, field) == rendered
    assert type(getattr(op, field)) is str


def test_rendering_twice_keeps_paths_inline(tmp_path: pathlib.Path) -> None:
    """A second render (a retry on the same operator object) must not load the path as a file."""
    op = make(tmp_path, events_file="in_{{ ds }}.jsonl", rejected_path="/out/{{ ds }}.jsonl")
    op.render_template_fields(context())
    op.render_template_fields(context())
    assert (op.events_file, op.rejected_path) == ("in_2026-11-28.jsonl", "/out/2026-11-28.jsonl")


@pytest.mark.parametrize("name", ["ev.jsonl", "ev.json"])
@pytest.mark.parametrize("native", [False, True], ids=["plain", "native"])
def test_events_template_file_is_loaded_and_rendered(tmp_path: pathlib.Path, name: str, native: bool) -> None:
    op = make(tmp_path, native=native, events=name)
    op.resolve_template_files()
    assert "{{ ds }}" in op.events  # the file's source, loaded at parse time
    op.render_template_fields(context())
    assert isinstance(op.events, str)  # JSON true/null: never a Python literal, always JSON text
    rows = [json.loads(line) for line in op.events.strip().removeprefix("[").removesuffix("]").splitlines()]
    assert rows == [{"externalEventId": "e-2026-11-28", "eventName": "Acme day", "flag": True, "x": None}]


def test_events_template_file_rendered_without_parse_time_loading(tmp_path: pathlib.Path) -> None:
    op = make(tmp_path, events="ev.jsonl")
    op.render_template_fields(context())
    assert json.loads(op.events)["externalEventId"] == "e-2026-11-28"


def test_inline_events_render_nested_values(tmp_path: pathlib.Path) -> None:
    op = make(tmp_path, events=[{"externalEventId": "{{ ds }}", "n": 1}], defaults={"eventName": "{{ ds }}"})
    op.render_template_fields(context())
    assert op.events == [{"externalEventId": "2026-11-28", "n": 1}]
    assert op.defaults == {"eventName": "2026-11-28"}


def test_templated_mapping_is_validated_at_run_not_parse(tmp_path: pathlib.Path) -> None:
    op = make(tmp_path, events=[], field_map={"a": "{{ params.field }}"})
    assert op.field_map == {"a": "{{ params.field }}"}


def test_copies_keep_the_path_type(tmp_path: pathlib.Path) -> None:
    op = make(tmp_path, events=[], rejected_path="/x/{{ ds }}.jsonl")
    clone = copy.deepcopy(op)
    clone.render_template_fields(context())
    assert clone.rejected_path == "/x/2026-11-28.jsonl"
    assert op.rejected_path == "/x/{{ ds }}.jsonl"


def test_dagbag_parse_loads_events_templates_and_leaves_paths(caplog: pytest.LogCaptureFixture) -> None:
    """The DagBag's parse (``resolve_template_files``) of ``tests/dags/upsert_dags.py``."""
    from airflow.models.dagbag import DagBag

    dag_file = pathlib.Path(__file__).parents[1] / "dags" / "upsert_dags.py"
    bag = DagBag(dag_folder=str(dag_file))
    assert bag.import_errors == {}
    assert "Failed to resolve template field" not in caplog.text
    dag = bag.dags["upsert_dags"]  # no get_dag(): that reads the metadata DB
    from_template, from_file = dag.get_task("from_template"), dag.get_task("from_file")
    assert '"id": "tmpl-1"' in from_template.events  # type: ignore[attr-defined]
    assert from_file.events_file == "data/upsert_{{ params.name }}.jsonl"  # type: ignore[attr-defined]
    assert from_file.rejected_path == "{{ dag_run.conf['out'] }}/from_file.rejected.jsonl"  # type: ignore[attr-defined]


def test_serialized_dag_holds_plain_strings() -> None:
    """``to_dict`` of the parsed DAG, as the dag-processor sends it (msgpack: plain ``str`` only)."""
    from airflow.models.dagbag import DagBag

    try:
        from airflow.serialization.serialized_objects import DagSerialization as Serializer
    except ImportError:  # Airflow 3.0
        from airflow.serialization.serialized_objects import SerializedDAG as Serializer

    bag = DagBag(dag_folder=str(pathlib.Path(__file__).parents[1] / "dags" / "upsert_dags.py"))
    data = Serializer.to_dict(bag.dags["upsert_dags"])
    assert foreign_strings(data) == []
    assert "data/upsert_{{ params.name }}.jsonl" in json.dumps(data)
