"""The sensor reads results files through the adapters' shared storage module and the core's
JSON Lines reader (issue 11): gzip by magic bytes, a UTF-8 BOM, line numbers, DAG-relative paths."""

from __future__ import annotations

import ast
import gzip
import json
import pathlib

import pytest

from hubspot_events_provider.sensors.marketing_events import MarketingEventsSensor

SENSOR_SOURCE = (
    pathlib.Path(__file__).resolve().parents[2] / "hubspot_events_provider/sensors/marketing_events.py"
)


def _results(eids: list[str]) -> bytes:
    return "".join(
        json.dumps({"position": n, "externalAccountId": "acme", "externalEventId": e, "objectId": None})
        + "\n"
        for n, e in enumerate(eids, 1)
    ).encode()


def _sampled(path: str) -> list[tuple[str, str]]:
    return MarketingEventsSensor(task_id="wait", results_path=path, sample_size=10).targets()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("results.jsonl", gzip.compress(_results(["r1", "r2"]))),  # gzip without a .gz name
        ("results.jsonl", b"\xef\xbb\xbf" + _results(["r1", "r2"])),  # UTF-8 BOM
        ("results.jsonl.gz", b"\xef\xbb\xbf" + _results(["r1", "r2"])),  # .gz name, plain content
    ],
    ids=["gzip-sniffed", "bom", "gz-name-plain"],
)
def test_results_files_read_with_the_core_reader(tmp_path: pathlib.Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert _sampled(str(path)) == [("acme", "r1"), ("acme", "r2")]


def test_relative_results_path_is_taken_from_the_dag_folder(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import DAG

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.jsonl").write_bytes(_results(["r9"]))
    monkeypatch.chdir(pathlib.Path("/"))
    with DAG("sensor_relative", schedule=None) as dag:
        op = MarketingEventsSensor(task_id="wait", results_path="out/results.jsonl")
    dag.fileloc = str(tmp_path / "dag.py")
    assert op.targets() == [("acme", "r9")]


def test_the_sensor_uses_the_shared_storage_module_only() -> None:
    tree = ast.parse(SENSOR_SOURCE.read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module is not None
    } | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "hubspot_events_provider._storage" in imported
    assert not {"hubspot_events_provider.operators._paths", "gzip", "io"} & imported
