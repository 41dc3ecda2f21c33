"""A failed run never destroys an earlier run's reports (issue 16, defect 1).

Real ``dag.test()`` runs of ``tests/dags/report_safety_dags.py`` against the sandbox, all on the
same report paths: a good run, then runs that fail before sending (missing input, wrong token)
and half-way through sending (HubSpot's daily limit). The good run's files stay byte for byte;
what a failed run recorded is kept beside them with a ``.partial-<time>`` suffix.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from hubspot_events_provider.sandbox import SandboxServer


def _use(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer, token: str | None = None) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT",
        json.dumps({"conn_type": "hubspot", "host": sandbox.url, "password": token or sandbox.token}),
    )


def _write_events(path: pathlib.Path, ids: list[str], bad: int = 1) -> None:
    # rejected rows first: recorded before the first request even while reading overlaps sending
    rows: list[dict[str, Any]] = [{"externalEventId": f"bad-{n}", "eventName": ""} for n in range(bad)]
    rows += [{"externalEventId": i, "eventName": f"Event {i}"} for i in ids]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _run(conf: dict[str, Any]) -> str:
    from tests.dags.report_safety_dags import report_safety

    dr = report_safety.test(run_conf=conf)
    [ti] = dr.get_task_instances()
    return str(ti.state)


def _files(out: pathlib.Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.usefixtures("airflow_db")
def test_failed_runs_keep_the_earlier_reports(
    hubspot_sandbox: SandboxServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    events = tmp_path / "day.jsonl"
    _write_events(events, [f"e-{n}" for n in range(4)])
    _use(monkeypatch, hubspot_sandbox)
    conf = {"events_file": str(events), "out": str(out)}

    assert _run(conf) == "success"
    good = _files(out)
    assert sorted(good) == ["day.rejected.jsonl", "day.results.jsonl"]
    assert len(good["day.results.jsonl"].splitlines()) == 4
    assert len(good["day.rejected.jsonl"].splitlines()) == 1

    # Fails before reading anything: the day's file is missing. Nothing recorded, nothing kept.
    assert _run({**conf, "events_file": str(tmp_path / "missing.jsonl")}) == "failed"
    assert _files(out) == good

    # Fails at the first request: a wrong token. The rejected row it had recorded is kept aside.
    _use(monkeypatch, hubspot_sandbox, token="wrong-token")
    assert _run(conf) == "failed"
    after = _files(out)
    assert {k: after[k] for k in good} == good
    [partial] = [name for name in after if name not in good]
    assert partial.startswith("day.rejected.partial-")
    assert partial.endswith(".jsonl")
    assert json.loads(after[partial])["row"]["externalEventId"] == "bad-0"
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]  # no side files left behind


@pytest.mark.usefixtures("airflow_db")
def test_a_run_failing_half_way_keeps_what_it_sent_beside_the_earlier_reports(
    hubspot_sandbox: SandboxServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    events = tmp_path / "day.jsonl"
    _write_events(events, ["a-1", "a-2"], bad=0)
    _use(monkeypatch, hubspot_sandbox)
    conf = {"events_file": str(events), "out": str(out)}
    assert _run(conf) == "success"
    good = _files(out)
    assert good["day.rejected.jsonl"] == b""

    # The rerun has more events; HubSpot's daily limit stops it after two more requests.
    _write_events(events, [f"b-{n}" for n in range(5)], bad=0)
    hubspot_sandbox.configure(daily_limit=hubspot_sandbox.stats()["requests"] + 2)
    assert _run(conf) == "failed"
    after = _files(out)
    assert {k: after[k] for k in good} == good
    [partial] = [name for name in after if name not in good]
    assert partial.startswith("day.results.partial-")
    sent = [json.loads(line)["externalEventId"] for line in after[partial].splitlines()]
    assert sorted(sent) == ["b-0", "b-1"]  # answers of batches in flight arrive in any order
    assert {e["externalEventId"] for e in hubspot_sandbox.events()} >= {"b-0", "b-1"}


def test_execute_logs_where_the_partial_report_is(
    hubspot_sandbox: SandboxServer,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hubspot_events_provider.operators.upsert import UpsertMarketingEventsOperator

    rejected = tmp_path / "rejected.jsonl"
    rejected.write_text('{"earlier": "run"}\n')
    _use(monkeypatch, hubspot_sandbox, token="wrong-token")
    op = UpsertMarketingEventsOperator(
        task_id="upsert",
        events=[
            {"externalAccountId": "a", "externalEventId": "x", "eventName": "", "eventOrganizer": "o"},
            {"externalAccountId": "a", "externalEventId": "y", "eventName": "Y", "eventOrganizer": "o"},
        ],
        rejected_path=str(rejected),
    )
    with pytest.raises(Exception):  # noqa: B017 - auth error kind is the client's
        op.execute({})
    assert rejected.read_text() == '{"earlier": "run"}\n'
    [kept] = list(tmp_path.glob("rejected.partial-*.jsonl"))
    assert json.loads(kept.read_text())["row"]["externalEventId"] == "x"
    assert f"what this run recorded before failing is in {kept}" in capsys.readouterr().out
