"""send_batch, table-tested: a fake HubSpot plays every answer shape for one batch of events.

The fake is HubSpot, not our code: it receives the payloads the events kind sends and answers the
way HubSpot does (or might: its answer to a partly invalid batch is undocumented), refusing the
events whose name is ``bad``. Each case says how many requests and splits the batch must cost and
what becomes of every row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from hubspot_events_provider.core.engine.batching import send_batch
from hubspot_events_provider.core.engine.contract import Refusal
from hubspot_events_provider.core.errors import (
    HubSpotError,
    HubSpotNotFoundError,
    HubSpotServerError,
    HubSpotValidationError,
)
from hubspot_events_provider.core.http.client import HubSpotResponse
from hubspot_events_provider.core.kinds.events.kind import EventKind
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.identity import Key, RowRef, WriteItem

Answer = Callable[[list[Mapping[str, Any]]], Mapping[str, Any]]


def item(i: int, *, eid: str | None = None, name: str | None = None) -> WriteItem:
    payload = {
        "externalAccountId": "acme",
        "externalEventId": eid or f"e{i}",
        "eventName": name or f"Event {i}",
        "eventOrganizer": "Acme",
        "startDateTime": f"2026-05-0{1 + i % 9}T09:00:00+02:00",
    }
    return WriteItem(
        RowRef(i + 1, i + 2, {"row": i}, "events"), ("acme", payload["externalEventId"]), payload
    )


def _context(index: int, payload: Mapping[str, Any], shape: str) -> dict[str, list[str]]:
    ctx: dict[str, list[str]] = {}
    if shape in ("index", "both"):
        ctx["inputIndex"] = [str(index)]
    if shape in ("ids", "both"):
        ctx["externalAccountId"] = [payload["externalAccountId"]]
    if shape in ("ids", "both", "event_id"):
        ctx["externalEventId"] = [payload["externalEventId"]]
    return ctx


def _error(index: int, payload: Mapping[str, Any], *, context: str) -> dict[str, Any]:
    named = context != "none"
    message = f"Event '{payload['externalEventId']}' was refused." if named else "An event was refused."
    return {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": message,
        "context": _context(index, payload, context),
        "errors": [],
        "links": {},
    }


@dataclass
class FakeHubSpot:
    """Answers an upsert batch as HubSpot would: the events in ``refuse`` are refused.

    :param status: ``200``/``207`` (partial success in the body) or ``400`` (whole batch refused,
        nothing applied).
    :param context: how a per-row error names its row: ``index``, ``ids``, ``both``, ``event_id``
        (context holds only the externalEventId), ``message`` (only the message names it) or
        ``none`` (nothing names it). In a 400 the error details carry the same context.
    :param listed: at most this many errors listed in ``errors[]`` (``numErrors`` stays the truth);
        ``0`` lists none: nothing but a count.
    :param results: ``echo`` (one per applied row, echoing its fields but not its external ids, as
        HubSpot's result schema does), ``bare`` (object ids only), ``none`` or ``one-short``.
    """

    refuse: set[str] = field(default_factory=set)
    status: int = 200
    context: str = "both"
    listed: int | None = None
    results: str = "echo"
    calls: list[list[str]] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)

    def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
        self.calls.append([p["externalEventId"] for p in inputs])
        bad = [(i, p) for i, p in enumerate(inputs) if self._refused(p)]
        if bad and self.status == 400:
            details = [
                {"message": _error(i, p, context=self.context)["message"], "in": "externalEventId"}
                | ({"context": _context(i, p, self.context)} if self.context != "none" else {})
                for i, p in bad
            ]
            raise HubSpotValidationError(
                "Invalid input JSON",
                status=400,
                category="VALIDATION_ERROR",
                body={"message": "Invalid input", "errors": details if self.context != "none" else []},
            )
        good = [p for p in inputs if not self._refused(p)]
        self.applied.extend(p["externalEventId"] for p in good)
        body: dict[str, Any] = {"status": "COMPLETE", "results": self._results(good)}
        if bad:
            errors = [_error(i, p, context=self.context) for i, p in bad]
            body.update(
                numErrors=len(bad), errors=errors[: self.listed] if self.listed is not None else errors
            )
        return HubSpotResponse(self.status if bad else 200, body, {}, "POST", "/events/upsert")

    def _refused(self, payload: Mapping[str, Any]) -> bool:
        return payload["externalEventId"] in self.refuse or payload["eventName"] == "bad"

    def _results(self, good: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        if self.results == "none":
            return []
        out = []
        for p in good:
            result: dict[str, Any] = {"objectId": f"id-{p['externalEventId']}"}
            if self.results != "bare":
                # HubSpot echoes the event's fields (dates in UTC), not its external ids.
                result.update(eventName=p["eventName"], eventOrganizer=p["eventOrganizer"])
                result["startDateTime"] = p["startDateTime"].replace("T09:00:00+02:00", "T07:00:00Z")
            out.append(result)
        return out[:-1] if self.results == "one-short" else out


KIND = EventKind(EventMapper())


def fake(bad: list[int], **kwargs: Any) -> FakeHubSpot:
    return FakeHubSpot(refuse={f"e{i}" for i in bad}, **kwargs)


def fresh(bad: list[int], **kwargs: Any) -> Callable[[], FakeHubSpot]:
    """A fake built by the test that uses it: the calls it records never leak into a second run."""
    return lambda: fake(bad, **kwargs)


# (case, a fake built per test, bad rows, requests, splits, ids: "all" known | "some" | "none")
CASES: list[tuple[str, Callable[[], FakeHubSpot], list[int], int, int, str]] = [
    ("all good", fresh([]), [], 1, 0, "all"),
    ("200, errors by inputIndex", fresh([1, 4], context="index"), [1, 4], 1, 0, "all"),
    ("207, errors by inputIndex", fresh([0, 5], status=207, context="index"), [0, 5], 1, 0, "all"),
    ("200, errors by external ids", fresh([2], context="ids"), [2], 1, 0, "all"),
    ("207, errors by external ids", fresh([2, 3], status=207, context="ids"), [2, 3], 1, 0, "all"),
    ("200, externalEventId alone", fresh([2, 5], context="event_id"), [2, 5], 1, 0, "all"),
    ("207, externalEventId alone", fresh([1], status=207, context="event_id"), [1], 1, 0, "all"),
    ("200, only the message names it", fresh([3, 4], context="message"), [3, 4], 1, 0, "all"),
    ("207, only the message names it", fresh([0], status=207, context="message"), [0], 1, 0, "all"),
    # Nothing names the rows, but the results echo every applied row's fields: no re-send.
    ("200, unnamed errors, results tell", fresh([3], context="none"), [3], 1, 0, "all"),
    (
        "207, count only, results tell",
        fresh([1, 4], status=207, context="none", listed=0),
        [1, 4],
        1,
        0,
        "all",
    ),
    ("200, fewer errors listed than numErrors", fresh([1, 4], listed=1), [1, 4], 1, 0, "all"),
    # Nothing names the rows and the results echo nothing: [0-2] re-sent, 0 errors, so [3-5] holds
    # the one error without being re-sent; [3] re-sent, refused; [4-5] then hold none.
    ("200, unnamed, bare results, one bad", fresh([3], context="none", results="bare"), [3], 3, 2, "some"),
    (
        "207, count only, bare results, one bad",
        fresh([3], status=207, context="none", listed=0, results="bare"),
        [3],
        3,
        2,
        "some",
    ),
    # [0-2] (1 error: [0] refused, [1-2] clean), [3-5] holds 1: [3] ok, [4-5] holds 1: [4] ok, so [5].
    (
        "200, unnamed, bare results, two bad",
        fresh([0, 5], context="none", results="bare"),
        [0, 5],
        5,
        4,
        "some",
    ),
    # [0-2] ok, so [3-5] holds the bad row and is split without being sent whole: [3] refused,
    # then [4-5] (its sibling failed, nothing known) ok.
    ("whole-batch 400", fresh([3], status=400, context="none"), [3], 4, 2, "some"),
    # [0-2] refused -> [0] refused, [1-2] ok; [3-5] refused -> [3] ok, so [4-5] is split unsent:
    # [4] ok, so [5] is the bad one without a request.
    ("whole-batch 400, two bad rows", fresh([0, 5], status=400, context="none"), [0, 5], 7, 4, "some"),
    # The 400's details name the rows: they fail, the rest goes again once.
    ("whole-batch 400 naming rows by index", fresh([1, 4], status=400, context="index"), [1, 4], 2, 0, "all"),
    ("whole-batch 400 naming rows by event id", fresh([2], status=400, context="event_id"), [2], 2, 0, "all"),
    ("whole-batch 400 naming rows in messages", fresh([2], status=400, context="message"), [2], 2, 0, "all"),
    ("results count mismatch", fresh([1], results="one-short"), [1], 1, 0, "none"),
    ("no results at all", fresh([], results="none"), [], 1, 0, "none"),
]


@pytest.mark.parametrize(
    ("new_hubspot", "bad", "requests", "splits", "ids_known"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_every_answer_shape_accounts_for_every_row(
    new_hubspot: Callable[[], FakeHubSpot], bad: list[int], requests: int, splits: int, ids_known: str
) -> None:
    hubspot = new_hubspot()
    items = [item(i) for i in range(6)]
    outcome = send_batch(KIND, hubspot, items)
    assert (outcome.requests, outcome.splits) == (requests, splits)
    assert len(hubspot.calls) == requests
    assert sorted(f.item.ref.position - 1 for f in outcome.failed) == bad
    assert sorted(u.ref.position - 1 for u, _ in outcome.upserted) == sorted(set(range(6)) - set(bad))
    # Good rows may be applied more than once while a batch is split (upsert is idempotent).
    assert set(hubspot.applied) == {f"e{i}" for i in range(6) if i not in bad}
    for calls in hubspot.calls[1:]:  # re-sends never include a row already known
        assert len(calls) < 6
    ids = {u.key[1]: object_id for u, object_id in outcome.upserted}
    assert all(object_id in (None, f"id-{eid}") for eid, object_id in ids.items())
    known = [object_id for object_id in ids.values() if object_id is not None]
    assert {"all": len(ids), "none": 0}.get(ids_known, len(known)) == len(known)
    for failure in outcome.failed:
        assert failure.category == "VALIDATION_ERROR"
        assert failure.message in (
            "Invalid input JSON",
            "Invalid input",
            f"Event '{failure.item.key[1]}' was refused.",
            "An event was refused.",
        ) or failure.message.startswith("HubSpot counted this row among")


def test_identical_rows_are_told_apart_only_by_re_sending_them() -> None:
    # Rows 2 and 3 look alike in every field HubSpot echoes; one of them is refused without a name.
    items = [item(i) for i in range(6)]
    items[3] = item(3, name="Event 2")
    items[3] = items[3]._replace(
        payload={**items[3].payload, "startDateTime": items[2].payload["startDateTime"]}
    )
    hubspot = fake([3], context="none", listed=0)
    outcome = send_batch(KIND, hubspot, items)
    # The results place rows 0, 1, 4, 5; of the twins [2] is re-sent (clean), so [3] failed.
    assert hubspot.calls == [[f"e{i}" for i in range(6)], ["e2"]]
    assert (outcome.requests, outcome.splits) == (2, 1)
    assert [f.item.key[1] for f in outcome.failed] == ["e3"]
    assert sorted(u.key[1] for u, _ in outcome.upserted) == ["e0", "e1", "e2", "e4", "e5"]


def test_a_field_hubspot_rewrites_is_left_out_of_the_comparison() -> None:
    class Rewrites(FakeHubSpot):
        def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
            response = super().upsert_events(inputs)
            for result in response.body["results"]:
                result["eventOrganizer"] = result["eventOrganizer"].upper()  # echoed differently
            return response

    hubspot = Rewrites(refuse={"e4"}, context="none", listed=0)
    outcome = send_batch(KIND, hubspot, [item(i) for i in range(6)])
    # eventName and startDateTime still tell the rows apart: no re-send.
    assert (outcome.requests, [f.item.key[1] for f in outcome.failed]) == (1, ["e4"])


def test_a_message_names_a_row_only_by_an_exact_token() -> None:
    items = [item(0, eid="evt-1"), item(1, eid="evt-12"), item(2, eid="evt-2")]

    class Says(FakeHubSpot):
        message = ""

        def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
            response = super().upsert_events(inputs)
            for error in response.body.get("errors", []):
                error["message"] = self.message
            return response

    for message, blamed in [
        ("Marketing event evt-12 was refused.", "evt-12"),
        ("refused: externalEventId=evt-1", "evt-1"),
        ("Invalid input (evt-2)", "evt-2"),
    ]:
        hubspot = Says(refuse={blamed}, context="none", results="bare")
        hubspot.message = message
        outcome = send_batch(KIND, hubspot, items)
        assert [f.item.key[1] for f in outcome.failed] == [blamed], message
        assert outcome.requests == 1, message
    # "evt-1x" names no input; "evt-1" and "evt-2" together name two: neither is attributed.
    for message in ("Marketing event evt-1x was refused.", "evt-1 or evt-2 was refused"):
        hubspot = Says(refuse={"evt-2"}, context="none", results="bare")
        hubspot.message = message
        outcome = send_batch(KIND, hubspot, items)
        assert [f.item.key[1] for f in outcome.failed] == ["evt-2"]
        assert outcome.requests > 1, message


def test_an_index_contradicting_the_ids_beside_it_is_not_trusted() -> None:
    class Contradicts(FakeHubSpot):
        def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
            response = super().upsert_events(inputs)
            for error in response.body.get("errors", []):
                error["context"]["inputIndex"] = ["0"]  # points at e0; the ids name e2
            return response

    hubspot = Contradicts(refuse={"e2"}, results="bare")
    outcome = send_batch(KIND, hubspot, [item(i) for i in range(4)])
    assert [f.item.key[1] for f in outcome.failed] == ["e2"]
    assert [u.key[1] for u, _ in outcome.upserted if u.key[1] == "e0"] == ["e0"]


def test_duplicate_keys_in_a_batch_are_never_blamed_by_ids() -> None:
    # Two rows share (acme, dup): an error naming only the ids could be either, so neither is blamed
    # by it. The results (echoing the applied rows' names) still tell them apart, for free.
    items = [item(0, eid="dup"), item(1, eid="dup", name="bad"), item(2)]
    hubspot = FakeHubSpot(context="ids")
    outcome = send_batch(KIND, hubspot, items)
    assert (outcome.requests, outcome.splits) == (1, 0)
    assert [f.item.ref.position for f in outcome.failed] == [2]
    # Without echoed fields only re-sending tells: [dup] clean, so [dup, e2] holds the error;
    # [dup] refused, so e2 is clean.
    hubspot = FakeHubSpot(context="ids", results="bare")
    outcome = send_batch(KIND, hubspot, items)
    assert hubspot.calls == [["dup", "dup", "e2"], ["dup"], ["dup"]]
    assert (outcome.requests, outcome.splits) == (3, 2)
    assert [f.item.ref.position for f in outcome.failed] == [2]
    assert sorted(u.ref.position for u, _ in outcome.upserted) == [1, 3]


def test_an_error_index_outside_the_batch_is_not_trusted() -> None:
    class OutOfRange(FakeHubSpot):
        def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
            response = super().upsert_events(inputs)
            for error in response.body.get("errors", []):
                error["context"] = {"inputIndex": [str(len(inputs) + 5)]}
            return response

    hubspot = OutOfRange(refuse={"e1"}, context="none", results="bare")
    outcome = send_batch(KIND, hubspot, [item(0), item(1)])
    # [e0] re-sent clean, so the one error is e1's without re-sending it.
    assert hubspot.calls == [["e0", "e1"], ["e0"]]
    assert (outcome.requests, outcome.splits) == (2, 1)
    assert [f.item.ref.position for f in outcome.failed] == [2]


def test_a_single_row_refused_whole_takes_the_field_from_the_error_details() -> None:
    class Refuses:
        def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
            raise HubSpotValidationError(
                "",
                status=400,
                category="VALIDATION_ERROR",
                body={"errors": [{"in": "startDateTime", "message": "must be a date-time"}]},
            )

    outcome = send_batch(KIND, Refuses(), [item(0)])
    (failure,) = outcome.failed
    assert (failure.category, failure.field, failure.message) == (
        "VALIDATION_ERROR",
        "startDateTime",
        "must be a date-time",
    )
    assert outcome.upserted == []


def test_transient_failures_propagate() -> None:
    class Down:
        def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
            raise HubSpotServerError("HubSpot answered 503", status=503)

    with pytest.raises(HubSpotServerError):
        send_batch(KIND, Down(), [item(0), item(1)])


def test_an_empty_batch_sends_nothing() -> None:
    hubspot = FakeHubSpot()
    outcome = send_batch(KIND, hubspot, [])
    assert (outcome.requests, hubspot.calls) == (0, [])


class UnknownEventKind(EventKind):
    """A kind whose endpoint answers 404 for an event HubSpot does not know (as attendance does)."""

    def refuse_request(self, error: HubSpotError, group: Key) -> Refusal | None:
        if isinstance(error, HubSpotNotFoundError):
            return Refusal("EVENT_NOT_FOUND", f"HubSpot knows no event {group!r}")
        return None


def test_a_request_level_refusal_fails_that_requests_rows_with_a_reason() -> None:
    class NotFound:
        calls = 0

        def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
            NotFound.calls += 1
            raise HubSpotNotFoundError("HubSpot answered 404", status=404)

    items = [WriteItem(i.ref, i.key, i.payload, group=("acme", "w9")) for i in (item(0), item(1))]
    outcome = send_batch(UnknownEventKind(EventMapper()), NotFound(), items)
    assert NotFound.calls == 1  # not split: the whole request is refused for the same reason
    assert [(f.item.ref.position, f.category, f.message) for f in outcome.failed] == [
        (1, "EVENT_NOT_FOUND", "HubSpot knows no event ('acme', 'w9')"),
        (2, "EVENT_NOT_FOUND", "HubSpot knows no event ('acme', 'w9')"),
    ]
    with pytest.raises(HubSpotNotFoundError):
        send_batch(KIND, NotFound(), items)  # the events kind declares no such refusal
