"""Overlapping the read/validate pass with sending (``WriteOptions.overlap``), against the sandbox.

Full batches leave while the input is read; an unmapped CSV column still stops the run before
anything is sent; a JSON row with an unmapped key or a bad line stops sending at once, the batches
already sent accounted in the report; the last row of a key still wins and every row is accounted
once.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

import pytest

from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.errors import InputError, UnmappedFieldsError
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import SourceRow, rows_from_events, rows_from_file
from hubspot_events_provider.sandbox import SandboxServer
from tests.support import event, make_client

OVERLAP = UpsertOptions(batch_size=10, max_in_flight=2, overlap=True, overlap_hold=False)
STRICT = UpsertOptions(batch_size=10, max_in_flight=2, overlap=False)


class Outcome(NamedTuple):
    report: UpsertReport
    rejected: list[dict[str, Any]]
    results: list[dict[str, Any]]


def run(rows: Iterator[SourceRow], sandbox: SandboxServer, options: UpsertOptions) -> Outcome:
    """``run_upsert`` on ``rows``: the report, the rejected and the results lines."""
    rejected_buf, results_buf = io.BytesIO(), io.BytesIO()
    report = UpsertReport(rejected=JsonLinesWriter(rejected_buf), results=JsonLinesWriter(results_buf))
    client = make_client(sandbox)
    try:
        run_upsert(rows, EventMapper(), client, report, options=options)
    finally:
        client.close()
    rejected = [json.loads(x) for x in rejected_buf.getvalue().splitlines()]
    return Outcome(report, rejected, [json.loads(x) for x in results_buf.getvalue().splitlines()])


def sent_ids(sandbox: SandboxServer) -> list[str]:
    return [str(i["externalEventId"]) for r in sandbox.requests() for i in (r.inputs or [])]


def watched(rows: list[dict[str, Any]], sandbox: SandboxServer, seen: list[int]) -> Iterator[SourceRow]:
    """The rows, noting after the last one how many requests the sandbox had received by then.

    Before the last row it waits (up to 5 s) for a first request, as a slow source would let it.
    """
    for row in rows_from_events(rows):
        if row.position == len(rows):
            deadline = time.monotonic() + 5.0
            while not sandbox.requests() and time.monotonic() < deadline:
                time.sleep(0.01)
            seen.append(len(sandbox.requests()))
        yield row


def accounted_once(outcome: Outcome) -> None:
    s = outcome.report.summary()
    assert s["upserted"] + s["rejected"] + s["failed"] + s["superseded"] == s["total"]
    rows = [r["position"] for r in outcome.rejected + outcome.results]
    assert sorted(rows) == list(range(1, s["total"] + 1))


@pytest.mark.parametrize(("options", "early"), [(OVERLAP, True), (STRICT, False)])
def test_full_batches_leave_while_the_input_is_read(
    sandbox: SandboxServer, options: UpsertOptions, early: bool
) -> None:
    seen: list[int] = []
    outcome = run(watched([event(i) for i in range(35)], sandbox, seen), sandbox, options)
    assert (seen[0] > 0) is early
    assert outcome.report.summary()["upserted"] == 35
    assert sorted(sent_ids(sandbox)) == sorted(f"evt-{i}" for i in range(35))
    accounted_once(outcome)
    assert len(outcome.results) == 35


def test_a_duplicate_of_a_sent_key_is_sent_after_it_and_wins(sandbox: SandboxServer) -> None:
    rows = [event(i) for i in range(10)]  # a full batch: sent while reading
    rows += [event(20, eventName="old"), event(21), event(20, eventName="new")]  # one unsent batch
    rows += [event(3, eventName="last"), event(4, eventName="mid"), event(4, eventName="final")]
    outcome = run(iter(rows_from_events(rows)), sandbox, OVERLAP)
    s, rejected = outcome.report.summary(), outcome.rejected
    # evt-3 and evt-4 were sent in the first batch, then replaced; evt-20's first row and evt-4's
    # "mid" never left: all four are superseded, sent or not, as without overlap.
    assert (s["total"], s["upserted"], s["superseded"], s["rejected"]) == (16, 12, 4, 0)
    assert sorted(r["position"] for r in rejected) == [4, 5, 11, 15]
    assert {r["stage"] for r in rejected} == {"superseded"}
    assert sandbox.get_event("acme", "evt-3")["eventName"] == "last"  # type: ignore[index]
    assert sandbox.get_event("acme", "evt-4")["eventName"] == "final"  # type: ignore[index]
    assert sandbox.get_event("acme", "evt-20")["eventName"] == "new"  # type: ignore[index]
    ids = sent_ids(sandbox)
    assert ids.count("evt-3") == 2  # the first row, then the last
    assert ids.index("evt-3") < 10
    accounted_once(outcome)
    assert {r["externalEventId"]: r["sent"]["eventName"] for r in outcome.results if r["position"] > 10} == {
        "evt-21": "Webinar 21",
        "evt-20": "new",
        "evt-3": "last",
        "evt-4": "final",
    }  # one line per key: its last version, the one HubSpot holds
    assert len(outcome.results) == 12


def test_the_unmapped_check_of_a_csv_header_comes_before_anything_is_sent(sandbox: SandboxServer) -> None:
    head = "externalAccountId,externalEventId,eventName,eventOrganizer,eventType,warehouse_col\n"
    body = "".join(f"acme,evt-{i},Webinar {i},Acme,WEBINAR,x\n" for i in range(60))
    data = (head + body).encode()

    def opener() -> IO[bytes]:
        return io.BytesIO(data)

    with pytest.raises(UnmappedFieldsError, match="warehouse_col"):
        run(rows_from_file(opener, name="events.csv"), sandbox, OVERLAP)
    assert sandbox.requests() == []


@pytest.mark.parametrize(("options", "most"), [(OVERLAP, 20), (STRICT, 0)])
def test_an_unmapped_json_key_stops_sending_at_once(
    sandbox: SandboxServer, options: UpsertOptions, most: int
) -> None:
    """The JSON trade-off: keys may differ per row, so the check runs as rows are read; of the two
    full batches before the row with a new key, those already on the wire are sent and accounted
    (a batch still queued is cancelled), the rest is not sent."""
    rows = [event(i) for i in range(25)] + [event(25, eventNmae="typo")] + [event(i) for i in range(26, 60)]
    rejected_buf, results_buf = io.BytesIO(), io.BytesIO()
    report = UpsertReport(rejected=JsonLinesWriter(rejected_buf), results=JsonLinesWriter(results_buf))
    client = make_client(sandbox)
    with pytest.raises(UnmappedFieldsError, match="eventNmae") as info:
        run_upsert(iter(rows_from_events(rows)), EventMapper(), client, report, options=options)
    client.close()
    assert "eventName" in str(info.value)
    sent = sorted(sent_ids(sandbox))
    assert len(sent) in {0, 10, 20} if most else sent == []
    assert set(sent) <= {f"evt-{i}" for i in range(most)}
    results = [json.loads(x)["externalEventId"] for x in results_buf.getvalue().splitlines()]
    assert sorted(results) == sent
    assert report.summary()["upserted"] == len(sent)


def test_a_bad_json_line_stops_the_run_and_the_sent_batches_are_accounted(sandbox: SandboxServer) -> None:
    lines = [json.dumps(event(i)) for i in range(23)] + ['{"externalEventId": ']
    data = "\n".join(lines).encode()

    def opener() -> IO[bytes]:
        return io.BytesIO(data)

    rejected_buf, results_buf = io.BytesIO(), io.BytesIO()
    report = UpsertReport(rejected=JsonLinesWriter(rejected_buf), results=JsonLinesWriter(results_buf))
    client = make_client(sandbox)
    with pytest.raises(InputError, match="line 24"):
        run_upsert(rows_from_file(opener, name="bad.jsonl"), EventMapper(), client, report, options=OVERLAP)
    client.close()
    # two full batches left before the bad line was read, unless one was still queued
    # (cancelled: stopping means no new request); what was sent is exactly what the report says
    sent = sorted(sent_ids(sandbox))
    assert len(sent) in {0, 10, 20}
    assert set(sent) <= {f"evt-{i}" for i in range(20)}
    results = [json.loads(x)["externalEventId"] for x in results_buf.getvalue().splitlines()]
    assert sorted(results) == sent
    assert report.summary()["upserted"] == len(sent)


def test_overlap_and_strict_runs_leave_hubspot_in_the_same_state(sandbox: SandboxServer) -> None:
    rows: list[dict[str, Any]] = []
    for i in range(250):
        rows.append(event(i % 90, eventName=f"v{i}"))  # each key seen two or three times
        if i % 37 == 0:
            rows.append(event(1000 + i, startDateTime="someday"))  # refused by validation
    states = []
    for options in (OVERLAP, STRICT):
        sandbox.reset()
        outcome = run(iter(rows_from_events(rows)), sandbox, options)
        accounted_once(outcome)
        s = outcome.report.summary()
        states.append(
            ({e["externalEventId"]: e["eventName"] for e in sandbox.events()}, s["total"], s["rejected"])
        )
        assert s["upserted"] + s["superseded"] == 250
    assert states[0] == states[1]
    assert states[0][0]["evt-5"] == "v185"  # the last of rows 5, 95, 185


def test_progress_while_reading_has_no_totals_yet(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    options = UpsertOptions(
        batch_size=10, max_in_flight=2, progress_interval_s=1e-6, overlap=True, overlap_hold=False
    )
    with caplog.at_level("INFO", logger="hubspot_events_provider.core.engine.run"):
        outcome = run(iter(rows_from_events([event(i) for i in range(45)])), sandbox, options)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("Progress (still reading): ") for line in lines)
    assert any("; 40 sent while reading." in line for line in lines)
    assert lines[-1].startswith("Sent 5/5 batches, 45/45 events")
    assert outcome.report.summary()["upserted"] == 45


def test_a_generator_with_a_new_key_at_row_k_fails_naming_it_and_a_fixed_rerun_is_idempotent(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The default (overlap) for an input whose keys are known only row by row: the run fails
    naming the row, what was sent before it is in the report and in HubSpot, and a rerun of the
    fixed input stores every event once, the early ones updated in place."""

    def produced(typo_at: int | None) -> Iterator[dict[str, Any]]:
        for i in range(60):
            yield event(i, eventNmae="typo") if i == typo_at else event(i)

    rejected_buf, results_buf = io.BytesIO(), io.BytesIO()
    report = UpsertReport(rejected=JsonLinesWriter(rejected_buf), results=JsonLinesWriter(results_buf))
    client = make_client(sandbox)
    assert UpsertOptions().overlap is True  # the default
    options = UpsertOptions(batch_size=10, max_in_flight=2, overlap_hold=False)  # stream every batch
    with (
        caplog.at_level("INFO", logger="hubspot_events_provider.core.engine.run"),
        pytest.raises(UnmappedFieldsError, match=r"line 45: .*eventNmae") as info,
    ):
        run_upsert(rows_from_events(produced(44)), EventMapper(), client, report, options=options)
    client.close()
    [stopped] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert stopped.startswith("Upsert stopped after ")
    assert " batches (sent while reading) (" in stopped
    assert info.value.line == 45
    sent = sorted(sent_ids(sandbox))
    # rows 1-40 made four full batches; up to 2 in flight, one just queued is cancelled
    assert len(sent) in {20, 30, 40}
    assert sent == sorted(f"evt-{i}" for i in range(len(sent)))
    results = [json.loads(x)["externalEventId"] for x in results_buf.getvalue().splitlines()]
    assert sorted(results) == sent
    assert report.summary()["upserted"] == len(sent)
    stored = {e["externalEventId"]: e["objectId"] for e in sandbox.events()}
    assert sorted(stored) == sent

    outcome = run(rows_from_events(produced(None)), sandbox, OVERLAP)
    assert outcome.report.summary()["upserted"] == 60
    accounted_once(outcome)
    again = {e["externalEventId"]: e["objectId"] for e in sandbox.events()}
    assert len(again) == 60
    assert {k: again[k] for k in stored} == stored


def test_a_partial_batch_leaves_at_once_and_a_later_duplicate_after_the_answers(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    """After reading, rows of keys never sent do not wait for the batches in flight (no tail of
    one round trip); a later duplicate of a sent key still waits for every earlier answer."""
    sandbox.configure(latency_s=(1.0, 1.0))
    rows = [event(i) for i in range(25)] + [event(0, eventName="last")]
    with caplog.at_level("INFO", logger="hubspot_events_provider.core.engine.run"):
        outcome = run(iter(rows_from_events(rows)), sandbox, UpsertOptions(batch_size=10, max_in_flight=4))
    assert caplog.records[-1].getMessage().startswith("Sent 4/4 batches, 26/26 events")
    requests = sandbox.requests()
    sizes = [len(r.inputs or ()) for r in requests]
    assert sorted(sizes[:3]) == [5, 10, 10]  # the partial batch may overtake the second full one
    assert sizes[3] == 1
    first = [r.at for r in requests[:3]]
    assert max(first) - min(first) < 0.9  # the partial batch left while the full ones were unanswered
    assert requests[3].at - max(first) >= 0.95  # evt-0's last row: after every earlier answer
    assert sandbox.get_event("acme", "evt-0")["eventName"] == "last"  # type: ignore[index]
    # evt-0's first row left (the progress counts it: 26 sent), but it was replaced: superseded
    assert (outcome.report.summary()["upserted"], outcome.report.summary()["superseded"]) == (25, 1)
    accounted_once(outcome)


def slow_after(rows: list[dict[str, Any]], pause_at: int, pause_s: float) -> Iterator[SourceRow]:
    """The rows, pausing ``pause_s`` once after row ``pause_at`` (a source slower than a round trip)."""
    for row in rows_from_events(rows):
        yield row
        if row.position == pause_at:
            time.sleep(pause_s)


@pytest.mark.parametrize(("pause_s", "streamed"), [(0.0, 10), (1.0, 50)])
def test_full_batches_wait_while_the_first_one_is_unanswered(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture, pause_s: float, streamed: int
) -> None:
    """The default hold: the first batch (the limiter's probe) leaves at once; a 50-row input read
    before its answer (300 ms) sends the rest after reading, its size announced; when the source
    is slower than the round trip, full batches stream again once the answer is in."""
    sandbox.configure(latency_s=(0.3, 0.3))
    options = UpsertOptions(batch_size=10, max_in_flight=2)
    assert options.overlap_hold is True  # the default
    with caplog.at_level("INFO", logger="hubspot_events_provider.core.engine.run"):
        outcome = run(slow_after([event(i) for i in range(50)], 10, pause_s), sandbox, options)
    [read] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Read 50 rows")]
    assert read.endswith(f"; {streamed} sent while reading.")
    assert outcome.report.summary()["upserted"] == 50
    accounted_once(outcome)
    assert sorted(sent_ids(sandbox)) == sorted(f"evt-{i}" for i in range(50))
