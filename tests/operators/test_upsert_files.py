"""Upsert operator files (issue 16): DAG-relative input paths, report files in object storage,
the missing-filesystem message. Runs ``execute()`` against the sandbox."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from hubspot_events_provider._storage import partial_report_path, report_file
from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.operators.upsert import UpsertMarketingEventsOperator
from hubspot_events_provider.sandbox import SandboxServer


def event(eid: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "externalAccountId": "acme",
        "externalEventId": eid,
        "eventName": f"Webinar {eid}",
        "eventOrganizer": "Acme",
    }
    row.update(overrides)
    return row


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT",
        json.dumps({"conn_type": "hubspot", "host": hubspot_sandbox.url, "password": hubspot_sandbox.token}),
    )
    return hubspot_sandbox


@pytest.fixture
def memory_storage() -> Iterator[Any]:
    """fsspec's in-memory filesystem registered as ``memory://`` for Airflow's ObjectStoragePath."""
    from fsspec.implementations.memory import MemoryFileSystem

    registry = _filesystems()
    registry["memory"] = lambda conn_id=None: MemoryFileSystem()
    MemoryFileSystem.store.clear()
    try:
        yield MemoryFileSystem()
    finally:
        registry.pop("memory", None)
        MemoryFileSystem.store.clear()


def _filesystems() -> dict[str, Any]:
    """Airflow's (cached) scheme -> filesystem registry: airflow.sdk.io.fs (3.1+) or airflow.io (3.0)."""
    try:
        from airflow.sdk.io.fs import _register_filesystems
    except ImportError:  # Airflow 3.0
        from airflow.io import _register_filesystems  # type: ignore[no-redef]
    return _register_filesystems()  # type: ignore[return-value]


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


# --- defect 6: relative events_file paths resolve against the DAG folder, never the cwd -----------


def test_relative_events_file_never_falls_back_to_the_current_directory(
    sandbox: SandboxServer,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow.sdk import DAG

    cwd = tmp_path / "cwd"
    (cwd / "data").mkdir(parents=True)
    (cwd / "data" / "in.jsonl").write_text(_jsonl([event("cwd-1")]))
    dag_dir = tmp_path / "dags"
    dag_dir.mkdir()
    monkeypatch.chdir(cwd)
    with DAG("relative_only_dag_folder", schedule=None) as dag:
        op = UpsertMarketingEventsOperator(
            task_id="upsert", events_file="data/in.jsonl", rejected_path=str(tmp_path / "rej.jsonl")
        )
    dag.fileloc = str(dag_dir / "dag.py")
    with pytest.raises(InputError, match=str(dag_dir / "data" / "in.jsonl")):
        op.execute({})
    assert sandbox.events() == []  # the cwd's file was not read

    (dag_dir / "data").mkdir()
    (dag_dir / "data" / "in.jsonl").write_text(_jsonl([event("dag-1"), event("dag-2")]))
    capsys.readouterr()
    summary = op.execute({})
    assert summary["upserted"] == 2
    assert sorted(e["externalEventId"] for e in sandbox.events()) == ["dag-1", "dag-2"]
    log = capsys.readouterr().out
    assert (
        f"Reading events_file {dag_dir / 'data' / 'in.jsonl'} ('data/in.jsonl' taken from the DAG folder"
        in log
    )


# --- defect 1 in object storage: a side object, moved into place on completion --------------------


def test_object_storage_reports_are_written_aside_and_moved(
    sandbox: SandboxServer, tmp_path: pathlib.Path, memory_storage: Any
) -> None:
    memory_storage.pipe("/bucket/in.jsonl", _jsonl([event("m1"), event("m2", eventName="")]).encode())
    memory_storage.pipe("/bucket/out/day.results.jsonl", b'{"earlier": 1}\n')

    def op(events_file: str) -> UpsertMarketingEventsOperator:
        return UpsertMarketingEventsOperator(
            task_id="upsert",
            events_file=events_file,
            rejected_path="memory://bucket/out/day.rejected.jsonl",
            results_path="memory://bucket/out/day.results.jsonl",
        )

    with pytest.raises(InputError, match=r"memory://bucket/missing\.jsonl"):
        op("memory://bucket/missing.jsonl").execute({})
    assert memory_storage.cat("/bucket/out/day.results.jsonl") == b'{"earlier": 1}\n'
    assert sorted(memory_storage.ls("/bucket/out", detail=False)) == ["/bucket/out/day.results.jsonl"]

    summary = op("memory://bucket/in.jsonl").execute({})
    assert (summary["upserted"], summary["rejected"]) == (1, 1)
    results = memory_storage.cat("/bucket/out/day.results.jsonl").decode().splitlines()
    assert [json.loads(line)["externalEventId"] for line in results] == ["m1"]
    rejected = memory_storage.cat("/bucket/out/day.rejected.jsonl").decode().splitlines()
    assert [json.loads(line)["row"]["externalEventId"] for line in rejected] == ["m2"]
    assert sorted(memory_storage.ls("/bucket/out", detail=False)) == [
        "/bucket/out/day.rejected.jsonl",
        "/bucket/out/day.results.jsonl",
    ]


def test_object_storage_partial_report_is_kept_beside(memory_storage: Any) -> None:
    memory_storage.pipe("/b/r.jsonl", b"complete\n")
    kept: list[tuple[str, str]] = []

    def half_written() -> None:
        with report_file("memory://b/r.jsonl", on_partial=lambda loc, where: kept.append((loc, where))) as f:
            f.write(b"half\n")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        half_written()
    assert memory_storage.cat("/b/r.jsonl") == b"complete\n"
    [(location, where)] = kept
    assert location == "memory://b/r.jsonl"
    assert where.startswith("memory://b/r.partial-")
    assert memory_storage.cat("/" + where.removeprefix("memory://")) == b"half\n"


def test_partial_report_path_keeps_the_suffix() -> None:
    assert partial_report_path("/o/day.rejected.jsonl", "T") == "/o/day.rejected.partial-T.jsonl"
    assert partial_report_path("s3://b/k/report", "T") == "s3://b/k/report.partial-T"
    assert partial_report_path("rel.jsonl", "T") == "rel.partial-T.jsonl"


# --- friction: a scheme with no filesystem names the provider and the extra --------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "s3://bucket/in.jsonl",
            "apache-airflow-providers-amazon (pip install 'airflow-provider-hubspot-events[s3]')",
        ),
        (
            "gs://bucket/in.jsonl",
            "apache-airflow-providers-google (pip install 'airflow-provider-hubspot-events[gcs]')",
        ),
        ("abfs://c/in.jsonl", "apache-airflow-providers-microsoft-azure"),
        ("zzz://c/in.jsonl", "install the Airflow provider that registers this filesystem"),
    ],
)
def test_missing_filesystem_names_the_provider(
    sandbox: SandboxServer, tmp_path: pathlib.Path, uri: str, expected: str
) -> None:
    if uri.split("://")[0] in _filesystems():
        pytest.skip("this install has the provider for the scheme")
    op = UpsertMarketingEventsOperator(task_id="u", events_file=uri, rejected_path=str(tmp_path / "r.jsonl"))
    with pytest.raises(InputError) as info:
        op.execute({})
    assert expected in str(info.value)
    assert f"no filesystem is registered for {uri.split('://')[0]}:// URIs" in str(info.value)


# --- defect 5: a required field no row can have is one configuration error, never 41 row errors ------


@pytest.mark.parametrize("file_name", ["events.csv", "events.jsonl"])
def test_no_source_for_a_required_field_fails_the_task_once(
    sandbox: SandboxServer, tmp_path: pathlib.Path, file_name: str
) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    path = tmp_path / file_name
    if file_name.endswith(".csv"):
        path.write_text("event_id,name,organizer\n" + "".join(f"e{n},Event {n},Acme\n" for n in range(41)))
    else:
        path.write_text(_jsonl([{"event_id": f"e{n}", "name": "E", "organizer": "Acme"} for n in range(41)]))
    op = UpsertMarketingEventsOperator(
        task_id="upsert",
        events_file=str(path),
        field_map={"event_id": "externalEventId", "name": "eventName", "organizer": "eventOrganizer"},
        rejected_path=str(tmp_path / "rejected.jsonl"),
    )
    with pytest.raises(AirflowFailException) as info:
        op.execute({})
    message = str(info.value)
    assert "configuration error: no source key maps to the required field externalAccountId" in message
    assert "the source has 'event_id', 'name', 'organizer'" in message
    assert sandbox.requests() == []


def test_no_source_for_a_required_field_in_sql_fails_at_the_cursor(
    sandbox: SandboxServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from airflow.providers.common.compat.sdk import AirflowFailException

    database = tmp_path / "warehouse.db"
    with sqlite3.connect(database) as conn:
        conn.execute("create table ev (externalEventId text, eventName text)")
        conn.executemany("insert into ev values (?, ?)", [(f"e{n}", "E") for n in range(5)])
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    op = UpsertMarketingEventsOperator(
        task_id="upsert",
        sql="select * from ev",
        sql_conn_id="warehouse",
        defaults={"externalAccountId": "acme"},
        rejected_path=str(tmp_path / "rejected.jsonl"),
    )
    with pytest.raises(AirflowFailException, match="required field eventOrganizer and defaults"):
        op.execute({})
    assert sandbox.requests() == []


# --- friction: file dialects through the operator ---------------------------------------------------


def test_semicolon_utf16_day_first_csv_is_read_and_the_log_says_how(
    sandbox: SandboxServer, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.csv"
    text = "event_id;name;starts_at\r\nx1;Lancement;01/02/2026 10:00\r\nx2;Atelier;13/02/2026 09:30\r\n"
    path.write_bytes(text.encode("utf-16"))  # what a spreadsheet's "Unicode text" export looks like
    op = UpsertMarketingEventsOperator(
        task_id="upsert",
        events_file=str(path),
        field_map={"event_id": "externalEventId", "name": "eventName", "starts_at": "startDateTime"},
        defaults={"externalAccountId": "fr", "eventOrganizer": "Acme"},
        date_format="%d/%m/%Y %H:%M",
        timezone="Europe/Paris",
        rejected_path=str(tmp_path / "rejected.jsonl"),
    )
    summary = op.execute({})
    assert (summary["upserted"], summary["rejected"]) == (2, 0)
    stored = {e["externalEventId"]: e for e in sandbox.events()}
    assert stored["x1"]["startDateTime"].startswith("2026-02-01T09:00:00")
    assert stored["x2"]["startDateTime"].startswith("2026-02-13T08:30:00")
    log = capsys.readouterr().out
    assert "a UTF-16 (little-endian) byte-order mark: reading the file as UTF-16" in log
    assert "CSV delimiter ';' detected from the header" in log


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delimiter": ";;"}, "delimiter must be one character"),
        ({"encoding": "no-such-codec"}, "not a known text encoding"),
        (
            {"date_format": "%d/%m/%Y", "timezone": "UTC", "defaults": {"startDateTime": "2026-13-45"}},
            "defaults",
        ),
        ({"date_format": "dd/mm/yyyy"}, "date_format must be a strptime format"),
    ],
)
def test_file_and_date_parameters_are_checked_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UpsertMarketingEventsOperator(task_id="u", events_file="in.csv", **kwargs)


# --- friction: a dry run shows the payloads it would send ---------------------------------------------


def test_dry_run_writes_the_payloads_it_would_send(
    sandbox: SandboxServer, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"id": "d1", "title": "One", "starts": "2026-12-01 10:00"},
        {"id": "d2", "title": "", "starts": "2026-12-01 10:00"},  # rejected: no payload
        {"id": "d3", "title": "Three", "starts": "2026-12-02 10:00", "region": "EMEA"},
    ]
    op = UpsertMarketingEventsOperator(
        task_id="upsert",
        events=rows,
        field_map={"id": "externalEventId", "title": "eventName", "starts": "startDateTime"},
        custom_properties=["region"],
        defaults={"externalAccountId": "acme", "eventOrganizer": "Acme"},
        timezone="Europe/Paris",
        dry_run=True,
        payloads_path="out/payloads.jsonl",
        rejected_path=str(tmp_path / "rejected.jsonl"),
    )
    op.payloads_path = str(tmp_path / "out" / "payloads.jsonl")  # no DAG folder here: absolute path
    summary = op.execute({})
    assert (summary["would_upsert"], summary["rejected"]) == (2, 1)
    assert sandbox.requests() == []
    lines = [json.loads(line) for line in (tmp_path / "out" / "payloads.jsonl").read_text().splitlines()]
    assert [(line["position"], line["payload"]["externalEventId"]) for line in lines] == [
        (1, "d1"),
        (3, "d3"),
    ]
    assert lines[0]["payload"]["startDateTime"] == "2026-12-01T09:00:00Z"
    assert lines[1]["payload"]["customProperties"] == [{"name": "region", "value": "EMEA"}]
    log = capsys.readouterr().out
    assert "Dry run: 2 event(s) would be upserted; the first 2 payload(s):" in log
    assert '"externalEventId": "d3"' in log
    assert f"every payload that would be sent is in {tmp_path / 'out' / 'payloads.jsonl'}" in log


def test_payloads_path_needs_a_dry_run() -> None:
    with pytest.raises(ValueError, match="payloads_path is written by dry runs only"):
        UpsertMarketingEventsOperator(task_id="u", events=[], payloads_path="p.jsonl")


def test_the_check_runs_on_a_dry_run_when_allowed(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    from hubspot_events_provider.operators.check import MarketingEventsUpsertCheckOperator

    op = UpsertMarketingEventsOperator(
        task_id="upsert",
        events=[event("c1"), event("c2", eventName=""), event("c3")],
        dry_run=True,
        rejected_path=str(tmp_path / "rejected.jsonl"),
    )
    summary = op.execute({})

    def check(**kwargs: Any) -> dict[str, Any]:
        return MarketingEventsUpsertCheckOperator(task_id="check", summary=summary, **kwargs).execute({})

    with pytest.raises(AirflowFailException, match="pass allow_dry_run=True to check its validation rejects"):
        check(max_errors=1)
    result = check(max_errors=1, allow_dry_run=True)
    assert (result["passed"], result["errors"], result["total"]) == (True, 1, 3)
    with pytest.raises(AirflowFailException, match="max_errors"):
        check(max_errors=0, allow_dry_run=True)
    assert sandbox.requests() == []


@pytest.mark.parametrize("name", ["api_token", "private_app_token", "hapikey"])
@pytest.mark.parametrize("where", ["argument", "hook_params"])
def test_other_token_names_are_refused_too(name: str, where: str) -> None:
    import warnings

    secret = "pat-na1-another-secret"
    kwargs: dict[str, Any] = {name: secret} if where == "argument" else {"hook_params": {name: secret}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=f"'{name}' is refused") as info:
            UpsertMarketingEventsOperator(task_id="upsert", events=[], **kwargs)
    assert secret not in str(info.value)
    assert "Put it in the Airflow Connection" in str(info.value)


def test_local_report_file_keeps_every_partial_and_plain_permissions(tmp_path: pathlib.Path) -> None:
    import os
    import stat

    target = tmp_path / "r.jsonl"
    with report_file(str(target)) as handle:
        handle.write(b"complete\n")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask

    def fail(text: bytes) -> None:
        with report_file(str(target)) as f:
            f.write(text)
            raise RuntimeError("boom")

    for text in (b"first\n", b"second\n"):  # two failures within the same second
        with pytest.raises(RuntimeError):
            fail(text)
    assert target.read_bytes() == b"complete\n"
    kept = sorted(p.read_bytes() for p in tmp_path.glob("r.partial-*.jsonl"))
    assert kept == [b"first\n", b"second\n"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == []
