"""UpsertReport and JsonLinesWriter: counts, invariant, bounded summary, rejected/results files."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from hubspot_events_provider.core.engine.report import MAX_CATEGORIES, JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.engine.summary import UpsertSummary
from hubspot_events_provider.core.rows.identity import RowRef

SUMMARY_KEYS = {
    "total",
    "upserted",
    "rejected",
    "failed",
    "superseded",
    "numErrors",
    "error_rate",
    "errors_by_category",
    "sample_errors",
    "batches",
    "splits",
    "isolation_requests",
    "requests",
    "retries",
    "rate_limited",
    "rejected_path",
    "results_path",
    "started_at",
    "completed_at",
    "dry_run",
}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def ref(position: int, line: int | None = None, original: Any = None) -> RowRef:
    return RowRef(position, line, {} if original is None else original, "events")


def test_a_run_accounts_for_every_row(tmp_path: Path) -> None:
    rejected_path, results_path = tmp_path / "rejected.jsonl", tmp_path / "results.jsonl"
    with JsonLinesWriter(rejected_path) as rejected, JsonLinesWriter(results_path) as results:
        report = UpsertReport(rejected=rejected, results=results)
        report.start()
        report.record_read(6)
        report.record_invalid(
            ref(1, 2, {"id": "a", "start": "x"}),
            "INVALID_DATETIME",
            "bad date",
            "startDateTime",
            key=("acme", "a"),
        )
        report.record_superseded(ref(2, 3, {"id": "b"}), 5, ("acme", "b"))
        report.record_upserted(ref(3), ("acme", "c"), "901")
        report.record_refused(
            ref(4, 5, {"id": "d"}), "VALIDATION_ERROR", "HubSpot said no", key=("acme", "d")
        )
        report.record_upserted(ref(5), ("acme", "b"), None)
        report.record_upserted(ref(6), ("acme", "e"), "903")
        report.record_batch(requests=3, splits=1)
        report.add_client_stats({"requests": 3, "retries": 1, "rate_limited": 1})
        report.finish()
        summary = report.summary()
    assert report.invariant_holds()
    assert set(summary) == SUMMARY_KEYS
    assert summary["total"] == 6
    assert (summary["upserted"], summary["rejected"], summary["failed"], summary["superseded"]) == (
        3,
        1,
        1,
        1,
    )
    assert summary["numErrors"] == 2
    assert summary["error_rate"] == pytest.approx(2 / 6, abs=1e-6)
    assert summary["errors_by_category"] == {"INVALID_DATETIME": 1, "VALIDATION_ERROR": 1}
    assert (summary["requests"], summary["retries"], summary["rate_limited"], summary["batches"]) == (
        3,
        1,
        1,
        1,
    )
    assert (summary["splits"], summary["isolation_requests"]) == (1, 2)
    assert summary["rejected_path"] == str(rejected_path)
    assert summary["results_path"] == str(results_path)
    assert summary["dry_run"] is False
    assert summary["started_at"].endswith("Z")
    assert summary["completed_at"] is not None
    assert summary["completed_at"] >= summary["started_at"]
    first_error = {
        "position": 1,
        "line": 2,
        "stage": "validation",
        "category": "INVALID_DATETIME",
        "field": "startDateTime",
        "message": "bad date",
    }
    ids = {"externalAccountId": "acme", "externalEventId": "a"}
    assert summary["sample_errors"][0] == {**first_error, "ids": ids}
    assert summary["sample_errors"][1]["ids"] == {"externalAccountId": "acme", "externalEventId": "d"}
    json.dumps(summary)

    lines = _lines(rejected_path)
    assert [(r["position"], r["stage"]) for r in lines] == [
        (1, "validation"),
        (2, "superseded"),
        (4, "hubspot"),
    ]
    assert lines[0] == {**first_error, "row": {"id": "a", "start": "x"}}  # the file has the row, not the ids
    assert lines[1]["replaced_by"] == 5
    assert lines[1]["category"] == "SUPERSEDED"
    assert lines[1]["message"] == (
        "replaced by row 5 with the same externalAccountId and externalEventId ('acme', 'b')"
    )
    assert _lines(results_path) == [
        {"position": 3, "externalAccountId": "acme", "externalEventId": "c", "objectId": "901"},
        {"position": 5, "externalAccountId": "acme", "externalEventId": "b", "objectId": None},
        {"position": 6, "externalAccountId": "acme", "externalEventId": "e", "objectId": "903"},
    ]
    not_upserted = report.total - report.upserted
    assert len(lines) == not_upserted


def test_the_summary_matches_its_typed_contract() -> None:
    report = UpsertReport(dry_run=True)
    report.record_read(2)
    report.record_would_send(1)
    report.record_unchanged(ref(2), ("acme", "b"))
    summary = report.summary()
    hints = get_type_hints(UpsertSummary)
    assert set(summary) == SUMMARY_KEYS | {"would_upsert", "unchanged"}
    # deleted (delete runs), sync (runs with a sync state), completions (attendance) and reconcile
    # (reconciled upserts) come from adapters.
    assert set(hints) == set(summary) | {"deleted", "sync", "completions", "reconcile"}
    assert UpsertSummary.__required_keys__ == SUMMARY_KEYS
    assert (summary["would_upsert"], summary["unchanged"]) == (1, 1)
    assert report.invariant_holds()


def test_counters_are_read_only() -> None:
    report = UpsertReport()
    with pytest.raises(AttributeError, match="record_"):
        report.total = 3  # type: ignore[assignment]  # mypy refuses the write too
    report.record_read(3)
    assert report.total == 3


def test_key_fields_name_the_results_and_the_messages(tmp_path: Path) -> None:
    out = io.BytesIO()
    fields = ("externalAccountId", "externalEventId", "subscriberState", "email")
    report = UpsertReport(
        results=JsonLinesWriter(out), rejected=JsonLinesWriter(io.BytesIO()), key_fields=fields
    )
    key = ("acme", "w1", "attend", "a@example.com")
    report.record_upserted(ref(1), key, None)
    report.record_refused(ref(2), "NOT_FOUND", "unknown event", key=key)
    assert json.loads(out.getvalue()) == {
        "position": 1,
        **dict(zip(fields, key, strict=True)),
        "objectId": None,
    }
    assert report.summary()["sample_errors"][0]["ids"] == dict(zip(fields, key, strict=True))


def test_summary_size_does_not_grow_with_errors() -> None:
    sink = io.BytesIO()
    report = UpsertReport(rejected=JsonLinesWriter(sink))
    small = None
    for i in range(10_000):
        report.record_read()
        report.record_invalid(
            ref(i + 1, i + 2, {"description": "x" * 5000}),
            "MISSING_REQUIRED_FIELD",
            "m" * 5000,
            key=("acme", "e" * 5000),
        )
        if i == 99:
            small = len(json.dumps(report.summary()))
    summary = report.summary()
    assert len(summary["sample_errors"]) == 20
    assert all(len(s["message"]) <= 500 for s in summary["sample_errors"])
    assert all(len(s["ids"]["externalEventId"]) <= 200 for s in summary["sample_errors"])
    assert small is not None
    assert len(json.dumps(summary)) <= small + 20  # only the counts' digits grew
    assert len(json.dumps(summary)) < 24_000
    assert summary["error_rate"] == 1.0
    assert sink.getvalue().count(b"\n") == 10_000


def test_samples_make_room_for_a_new_category() -> None:
    report = UpsertReport()
    for i in range(50):
        report.record_invalid(ref(i), "MISSING_REQUIRED_FIELD", "missing")
    report.record_refused(ref(51), "VALIDATION_ERROR", "refused by HubSpot")
    samples = report.summary()["sample_errors"]
    assert len(samples) == 20
    assert samples[-1]["category"] == "VALIDATION_ERROR"
    assert [s["position"] for s in samples[:19]] == list(range(19))
    assert "ids" not in samples[0]


def test_categories_are_bounded() -> None:
    report = UpsertReport()
    for i in range(MAX_CATEGORIES + 10):
        report.record_refused(ref(i), f"CAT_{i}", "x")
    categories = report.summary()["errors_by_category"]
    assert len(categories) == MAX_CATEGORIES + 1
    assert categories["OTHER"] == 10
    assert sum(categories.values()) == MAX_CATEGORIES + 10


def test_empty_run_and_dry_run() -> None:
    empty = UpsertReport().summary()
    assert (empty["total"], empty["error_rate"], empty["numErrors"]) == (0, 0.0, 0)
    assert "would_upsert" not in empty
    assert "unchanged" not in empty
    dry = UpsertReport(dry_run=True)
    dry.record_read(3)
    dry.record_would_send(2)
    dry.record_invalid(ref(1, 1), "INVALID_TYPE", "x")
    assert dry.invariant_holds()
    assert dry.summary()["would_upsert"] == 2
    assert dry.summary()["dry_run"] is True


def test_invariant_detects_a_lost_row() -> None:
    report = UpsertReport()
    report.record_read(2)
    report.record_upserted(ref(1), ("a", "1"), "1")
    assert not report.invariant_holds()


@pytest.mark.parametrize("text_mode", [True, False])
def test_writer_on_file_objects_does_not_close_them(text_mode: bool) -> None:
    handle: Any = io.StringIO() if text_mode else io.BytesIO()
    writer = JsonLinesWriter(handle)
    writer.write({"when": dt.date(2024, 5, 1), "price": Decimal("1.50"), "raw": b"\x00\x01", "name": "Café"})
    writer.write({"n": 2})
    writer.close()
    assert not handle.closed
    text = handle.getvalue() if text_mode else handle.getvalue().decode("utf-8")
    assert text.splitlines() == [
        '{"when":"2024-05-01","price":"1.50","raw":"AAE=","name":"Café"}',
        '{"n":2}',
    ]
    assert writer.lines == 2


def test_writer_on_a_path_creates_the_file_even_when_empty(tmp_path: Path) -> None:
    path = tmp_path / "rejected.jsonl"
    writer = JsonLinesWriter(path)
    writer.close()
    assert path.read_text() == ""
    assert writer.path == str(path)
