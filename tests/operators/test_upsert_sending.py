"""UpsertMarketingEventsOperator sending through the hook against the sandbox: partial failures
in every mode with the accounting invariant, whole-batch 400 splitting, dry runs, transient
failures, spec-valid request bodies, progress lines and the bounded, JSON-serialisable summary.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from hubspot_events_provider.core.errors import HubSpotError
from hubspot_events_provider.operators.upsert import UpsertMarketingEventsOperator
from hubspot_events_provider.sandbox import Fault, SandboxServer
from tests.contract.openapi import validate_request_body
from tests.support import connect, event, read_jsonl

SUMMARY_KEYS = {
    "total", "upserted", "rejected", "failed", "numErrors", "error_rate", "superseded",
    "errors_by_category", "sample_errors", "batches", "requests", "retries", "rate_limited",
    "rejected_path", "results_path", "started_at", "completed_at", "dry_run",
}  # fmt: skip


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    connect(monkeypatch, hubspot_sandbox, max_requests_per_10s=10_000)
    return hubspot_sandbox


def run(tmp_path: pathlib.Path, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("rejected_path", str(tmp_path / "rejected.jsonl"))
    kwargs.setdefault("results_path", str(tmp_path / "results.jsonl"))
    summary: dict[str, Any] = UpsertMarketingEventsOperator(task_id="upsert", **kwargs).execute({})
    return summary


def upsert_requests(sandbox: SandboxServer) -> list[Any]:
    return [r for r in sandbox.requests() if r.path.endswith("/events/upsert")]


def assert_accounted(summary: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """The invariant, and every row not upserted is in the rejected file, once."""
    assert set(summary) >= SUMMARY_KEYS
    assert summary["upserted"] + summary["rejected"] + summary["failed"] + summary["superseded"] == len(rows)
    assert summary["total"] == len(rows)
    rejected = read_jsonl(summary["rejected_path"])
    assert len(rejected) == summary["rejected"] + summary["failed"] + summary["superseded"]
    assert len({r["position"] for r in rejected}) == len(rejected)
    for line in rejected:
        assert line["row"] == rows[line["position"] - 1]
        assert line["stage"] in {"validation", "hubspot", "superseded"}
        assert line["category"]
        assert line["message"]
    if summary["results_path"]:
        results = read_jsonl(summary["results_path"])
        assert len(results) == summary["upserted"]
        assert not {r["position"] for r in results} & {r["position"] for r in rejected}


# --- partial failures --------------------------------------------------------------------------


@pytest.mark.parametrize("overlap", [False, True])
@pytest.mark.parametrize("mode", ["200", "207", "400"])
def test_partial_failure_in_every_mode(
    sandbox: SandboxServer, tmp_path: pathlib.Path, mode: str, overlap: bool
) -> None:
    """Read first, row 4 (evt-3) is superseded by row 21 and never sent; overlapped (the default),
    row 4 left in the first full batch while row 21 was still unread, and row 21 after row 4's
    answer: the last row wins in HubSpot and the counts and files are the same either way (row 4
    superseded, row 21 the only results line of evt-3)."""
    sandbox.configure(partial_mode=mode, reject_external_event_ids=("evt-4", "evt-17"))
    rows = [event(i) for i in range(25)]
    rows[8] = event(8, startDateTime="someday")  # a validation reject too
    rows[20] = event(3, eventName="Webinar 3 again")  # a duplicate of row 4
    summary = run(tmp_path, events=rows, batch_size=10, overlap=overlap)
    expected = (21, 1, 2, 1)
    assert (summary["upserted"], summary["rejected"], summary["failed"], summary["superseded"]) == expected
    assert (summary["numErrors"], summary["error_rate"]) == (3, 3 / 25)
    assert_accounted(summary, rows)
    stages = {r["row"]["externalEventId"]: r["stage"] for r in read_jsonl(summary["rejected_path"])}
    assert stages == {"evt-8": "validation", "evt-4": "hubspot", "evt-17": "hubspot", "evt-3": "superseded"}
    assert {e["externalEventId"] for e in sandbox.events()} == {f"evt-{i}" for i in range(25)} - {
        "evt-4", "evt-8", "evt-17", "evt-20",
    }  # fmt: skip
    assert sandbox.get_event("acme", "evt-3")["eventName"] == "Webinar 3 again"  # type: ignore[index]
    stored = {e["externalEventId"]: str(e["objectId"]) for e in sandbox.events()}
    results = read_jsonl(summary["results_path"])
    assert {r["externalEventId"]: r["objectId"] for r in results} == stored
    assert sorted(r["position"] for r in results if r["externalEventId"] == "evt-3") == [21]
    first_sent = any(
        i.get("eventName") == "Webinar 3" for r in upsert_requests(sandbox) for i in r.inputs or ()
    )
    assert first_sent is overlap  # overlapped, row 4 did leave (its requests stay counted)


def test_whole_batch_400_split_isolates_the_single_bad_row(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    sandbox.configure(partial_mode="400", reject_external_event_ids=("evt-57",))
    rows = [event(i) for i in range(100)]
    summary = run(tmp_path, events=rows)
    assert (summary["upserted"], summary["failed"], summary["batches"]) == (99, 1, 1)
    assert_accounted(summary, rows)
    [bad] = read_jsonl(summary["rejected_path"])
    assert (bad["position"], bad["stage"], bad["row"]["externalEventId"]) == (58, "hubspot", "evt-57")
    sizes = [len(r.inputs) for r in upsert_requests(sandbox)]
    assert sizes[0] == 100
    assert sorted(sizes).count(1) >= 1  # the search went down to the single row
    # Halving: the first half of each level is sent; the second is sent whole only when the first
    # failed too (else it is known to hold the bad row and is split unsent): 1 or 2 per level.
    assert 1 + 6 <= len(sizes) <= 12
    assert sizes.count(50) == 1  # [50-99] held the bad row: never re-sent whole
    assert summary["requests"] == len(sizes)


# --- dry run, transient failures ---------------------------------------------------------------


def test_dry_run_sends_nothing_and_needs_no_connection(
    hubspot_sandbox: SandboxServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", raising=False)
    rows = [event(0), event(1, eventName=""), event(2), event(0)]
    summary = run(tmp_path, events=rows, dry_run=True)
    assert hubspot_sandbox.requests() == []
    assert summary["dry_run"] is True
    assert (summary["upserted"], summary["rejected"], summary["superseded"]) == (0, 1, 1)
    assert (summary["would_upsert"], summary["requests"], summary["batches"]) == (2, 0, 0)
    # Nothing upserted: the invariant counts the rows that would have been instead.
    assert summary["would_upsert"] + summary["rejected"] + summary["superseded"] == summary["total"] == 4
    assert read_jsonl(summary["results_path"]) == []
    assert {r["stage"] for r in read_jsonl(summary["rejected_path"])} == {"validation", "superseded"}


def test_transient_failure_outlasting_retries_fails_the_task(
    hubspot_sandbox: SandboxServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(monkeypatch, hubspot_sandbox, max_retries=1, max_retry_time=5)
    hubspot_sandbox.add_fault(
        Fault(kind="5xx_before", probability=1.0, times=None, route="upsert", status=503)
    )
    with pytest.raises(HubSpotError, match="503"):
        run(tmp_path, events=[event(i) for i in range(3)])
    assert [r.status for r in upsert_requests(hubspot_sandbox)] == [503, 503]  # first try + 1 retry
    # An Airflow retry later succeeds: the same operator input, the fault gone.
    hubspot_sandbox.clear_faults()
    assert run(tmp_path, events=[event(i) for i in range(3)])["upserted"] == 3


# --- what is sent, what is logged, what is returned --------------------------------------------


@pytest.mark.parametrize("version", ["2026-03", "2026-09", "v3"])
def test_request_bodies_are_spec_valid(
    hubspot_sandbox: SandboxServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    connect(monkeypatch, hubspot_sandbox, api_version=version)
    rows = [
        {**event(i), "region": "EMEA", "eventCancelled": "no", "eventUrl": "https://x.test/e"}
        for i in range(7)
    ]
    summary = run(tmp_path, events=rows, batch_size=3, custom_properties=["region"])
    assert summary["upserted"] == 7
    requests = upsert_requests(hubspot_sandbox)
    assert sorted(len(r.inputs) for r in requests) == [1, 3, 3]  # batches run in parallel
    for request in requests:
        assert version in request.path
        validate_request_body(version, "post", "/events/upsert", {"inputs": request.inputs}, strict=True)


def test_progress_lines_name_batches_rate_headroom_and_eta(
    sandbox: SandboxServer,
    tmp_path: pathlib.Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("INFO")
    run(tmp_path, events=[event(i) for i in range(5)], batch_size=2, progress_interval=0.001)
    logged = caplog.text + capfd.readouterr().out
    assert "3/3 batches, 5/5 events" in logged
    assert "events/s" in logged
    assert "rate-limit headroom" in logged
    assert "ETA" in logged
    assert sandbox.token not in logged


def test_summary_is_json_and_bounded(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    def summary_for(n: int) -> dict[str, Any]:
        rows = [event(i, eventName="") for i in range(n)]
        return run(tmp_path, events=rows, rejected_path=str(tmp_path / f"r{n}.jsonl"), results_path=None)

    small, large = summary_for(10), summary_for(10_000)
    assert (large["rejected"], len(large["sample_errors"])) == (10_000, 20)
    assert len(small["sample_errors"]) == 10
    assert large["errors_by_category"] == {"MISSING_REQUIRED_FIELD": 10_000}
    assert json.loads(json.dumps(large)) == large  # plain JSON types only (XCom, REST API)
    small_size, large_size = len(json.dumps(small)), len(json.dumps(large))
    per_sample = len(json.dumps(small["sample_errors"][0]))
    assert large_size - small_size < 10 * (per_sample + 10)  # only the 10 extra samples and digits
    assert len(read_jsonl(large["rejected_path"])) == 10_000
    assert sandbox.requests() == []


def test_hook_params_override_the_connection_for_this_task(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    rows = [event(i) for i in range(3)]
    summary = run(tmp_path, events=rows, hook_params={"api_version": "v3", "max_requests_per_10s": 40})
    assert summary["upserted"] == 3
    assert {r.path for r in upsert_requests(sandbox)} == {"/marketing/v3/marketing-events/events/upsert"}


@pytest.mark.parametrize("secret", ["token", "access_token", "client_secret", "refresh_token"])
def test_hook_params_refuse_secrets(secret: str) -> None:
    with pytest.warns(UserWarning, match="refused"), pytest.raises(ValueError, match="Connection") as info:
        UpsertMarketingEventsOperator(task_id="upsert", events=[], hook_params={secret: "pat-na1-CANARY"})
    assert "CANARY" not in str(info.value)
