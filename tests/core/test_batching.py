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

from hubspot_events_provider.core.batching import send_batch
from hubspot_events_provider.core.client import HubSpotResponse
from hubspot_events_provider.core.errors import (
    HubSpotError,
    HubSpotNotFoundError,
    HubSpotServerError,
    HubSpotValidationError,
)
from hubspot_events_provider.core.kinds import Refusal
from hubspot_events_provider.core.model import EventMapper
from hubspot_events_provider.core.rows import Key, RowRef, WriteItem
from hubspot_events_provider.core.upsert import EventKind

Answer = Callable[[list[Mapping[str, Any]]], Mapping[str, Any]]


def item(i: int, *, bad: bool = False, eid: str | None = None) -> WriteItem:
    payload = {
        "externalAccountId": "acme",
        "externalEventId": eid or f"e{i}",
        "eventName": "bad" if bad else "ok",
    }
    return WriteItem(
        RowRef(i + 1, i + 2, {"row": i}, "events"), ("acme", payload["externalEventId"]), payload
    )


def _error(index: int, payload: Mapping[str, Any], *, context: str) -> dict[str, Any]:
    ctx: dict[str, list[str]] = {}
    if context in ("index", "both"):
        ctx["inputIndex"] = [str(index)]
    if context in ("ids", "both"):
        ctx["externalAccountId"] = [payload["externalAccountId"]]
        ctx["externalEventId"] = [payload["externalEventId"]]
    error: dict[str, Any] = {
        "category": "VALIDATION_ERROR",
        "message": f"bad event {payload['externalEventId']}",
    }
    if context != "none":
        error["context"] = ctx
    return error


@dataclass
class FakeHubSpot:
    """Answers an upsert batch as HubSpot would: rows named ``bad`` are refused.

    :param status: ``200``/``207`` (partial success in the body) or ``400`` (whole batch refused,
        nothing applied, no row named).
    :param context: how a per-row error names its row: ``index``, ``ids``, ``both`` or ``none``.
    :param listed: at most this many errors listed in ``errors[]`` (``numErrors`` stays the truth).
    :param results: ``one-per-good`` row, ``none`` or ``one-short``.
    """

    status: int = 200
    context: str = "both"
    listed: int | None = None
    results: str = "one-per-good"
    calls: list[list[str]] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)

    def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
        self.calls.append([p["externalEventId"] for p in inputs])
        bad = [(i, p) for i, p in enumerate(inputs) if p["eventName"] == "bad"]
        if bad and self.status == 400:
            raise HubSpotValidationError(
                "Invalid input JSON",
                status=400,
                category="VALIDATION_ERROR",
                body={"message": "Invalid input"},
            )
        good = [p for p in inputs if p["eventName"] != "bad"]
        self.applied.extend(p["externalEventId"] for p in good)
        body: dict[str, Any] = {"status": "COMPLETE", "results": self._results(good)}
        if bad:
            errors = [_error(i, p, context=self.context) for i, p in bad]
            body.update(
                numErrors=len(bad), errors=errors[: self.listed] if self.listed is not None else errors
            )
        return HubSpotResponse(self.status if bad else 200, body, {}, "POST", "/events/upsert")

    def _results(self, good: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        if self.results == "none":
            return []
        results = [{"objectId": f"id-{p['externalEventId']}", **p} for p in good]
        return results[:-1] if self.results == "one-short" else results


KIND = EventKind(EventMapper())

# (case, fake, rows as (index, bad), requests, splits, failed row indexes, ids known)
CASES: list[tuple[str, FakeHubSpot, list[int], int, int, set[int], bool]] = [
    ("all good", FakeHubSpot(), [], 1, 0, set(), True),
    ("200, errors by inputIndex", FakeHubSpot(context="index"), [1, 4], 1, 0, {1, 4}, True),
    ("207, errors by inputIndex", FakeHubSpot(status=207, context="index"), [0, 5], 1, 0, {0, 5}, True),
    ("200, errors by external ids", FakeHubSpot(context="ids"), [2], 1, 0, {2}, True),
    ("207, errors by external ids", FakeHubSpot(status=207, context="ids"), [2, 3], 1, 0, {2, 3}, True),
    # Unattributable: halves are re-sent until each bad row is alone. Bad row 3 of 6:
    # [0-5] -> [0-2] ok, [3-5] -> [3] refused, [4-5] ok: 5 requests, 2 splits.
    ("200, errors without context", FakeHubSpot(context="none"), [3], 5, 2, {3}, True),
    ("207, errors without context", FakeHubSpot(status=207, context="none"), [3], 5, 2, {3}, True),
    # numErrors 2 but one error listed: split; each half then has one bad row, listed: attributed.
    ("200, fewer errors listed than numErrors", FakeHubSpot(listed=1), [1, 4], 3, 1, {1, 4}, True),
    ("whole-batch 400", FakeHubSpot(status=400), [3], 5, 2, {3}, True),
    # [0-5] -> [0-2] -> [0] refused, [1-2] ok; [3-5] -> [3] ok, [4-5] -> [4] ok, [5] refused.
    ("whole-batch 400, two bad rows", FakeHubSpot(status=400), [0, 5], 9, 4, {0, 5}, True),
    ("results count mismatch", FakeHubSpot(results="one-short"), [1], 1, 0, {1}, False),
    ("no results at all", FakeHubSpot(results="none"), [], 1, 0, set(), False),
]


@pytest.mark.parametrize(
    ("fake", "bad", "requests", "splits", "failed", "ids_known"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_every_answer_shape_accounts_for_every_row(
    fake: FakeHubSpot, bad: list[int], requests: int, splits: int, failed: set[int], ids_known: bool
) -> None:
    items = [item(i, bad=i in bad) for i in range(6)]
    outcome = send_batch(KIND, fake, items)
    assert (outcome.requests, outcome.splits) == (requests, splits)
    assert len(fake.calls) == requests
    assert {f.item.ref.position - 1 for f in outcome.failed} == failed
    assert [u.ref.position - 1 for u, _ in outcome.upserted] == sorted(set(range(6)) - failed)
    # Good rows may be applied more than once while a batch is split (upsert is idempotent).
    assert set(fake.applied) == {f"e{i}" for i in range(6)} - {f"e{i}" for i in failed}
    ids = [object_id for _, object_id in outcome.upserted]
    if ids_known:
        assert ids == [f"id-{u.key[1]}" for u, _ in outcome.upserted]
    else:
        assert ids == [None] * len(ids)
    for failure in outcome.failed:
        assert failure.category == "VALIDATION_ERROR"
        assert failure.message in ("Invalid input JSON", f"bad event {failure.item.key[1]}")


def test_duplicate_keys_in_a_batch_cannot_be_attributed_by_ids_so_the_batch_is_split() -> None:
    # Two rows share (acme, dup): an error naming only the ids could be either, so neither is blamed.
    fake = FakeHubSpot(context="ids")
    items = [item(0, eid="dup"), item(1, bad=True, eid="dup"), item(2)]
    outcome = send_batch(KIND, fake, items)
    # After one split each half holds one "dup": the error's ids then name exactly one row.
    assert fake.calls == [["dup", "dup", "e2"], ["dup"], ["dup", "e2"]]
    assert (outcome.requests, outcome.splits) == (3, 1)
    assert [f.item.ref.position for f in outcome.failed] == [2]
    assert sorted(u.ref.position for u, _ in outcome.upserted) == [1, 3]


def test_an_error_index_outside_the_batch_is_not_trusted() -> None:
    class OutOfRange(FakeHubSpot):
        def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
            response = super().upsert_events(inputs)
            for error in response.body.get("errors", []):
                error["context"] = {"inputIndex": [str(len(inputs) + 5)]}
            return response

    outcome = send_batch(KIND, OutOfRange(), [item(0), item(1, bad=True)])
    assert (outcome.requests, outcome.splits) == (3, 1)
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
    fake = FakeHubSpot()
    outcome = send_batch(KIND, fake, [])
    assert (outcome.requests, fake.calls) == (0, [])


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
