"""Send one batch of rows and learn, for every row in it, whether HubSpot took it.

HubSpot's answer to a partly invalid batch is undocumented; this module copes with every shape:

* ``200`` with ``numErrors``/``errors[]`` and the valid rows applied,
* ``207`` with the same body,
* a whole-batch ``400`` that applies nothing and may not say which row was bad,
* a request-level error the write kind declares permanent for these rows (e.g. a ``404`` for an
  unknown event): every row of the request fails with that reason, the run goes on.

Errors are attributed to rows by :mod:`~hubspot_events_provider.core.engine.attribution` (``inputIndex``,
the key in the context (a kind whose contexts name a row by less than its whole key, e.g.
participations by the contact alone, says which part with its ``context_key(item)``), the
ids in the context or the message, and, for rows no error names, the fields the results echo). A
kind may name a row's category its own way with its ``row_category(category, field)``.
What attribution cannot place costs requests, as few as the counts allow:

* after a 200/207 the good rows are already applied, so only one half of the unknown rows is
  re-sent: its ``numErrors`` gives the other half's count, and a half known clean is not re-sent;
* after a whole-batch 400 nothing was applied: rows the error details name fail and the rest is
  re-sent once; otherwise the first half is re-sent (every write the pipeline carries is idempotent
  by key) and, when it goes through, the second half is known to hold the bad rows: it is split at
  once rather than sent whole to be refused again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hubspot_events_provider.core.engine.attribution import attribute, context_value, eliminate, error_count
from hubspot_events_provider.core.engine.contract import WriteKind
from hubspot_events_provider.core.errors import HubSpotError, HubSpotValidationError
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.rows.identity import WriteItem

__all__ = ["BatchOutcome", "RowFailure", "context_value", "send_batch"]


@dataclass(frozen=True)
class RowFailure:
    """A row HubSpot refused."""

    item: WriteItem
    category: str
    message: str
    field: str | None = None


@dataclass
class BatchOutcome:
    """What became of every row of a batch, and what it cost."""

    written: list[tuple[WriteItem, str | None]] = field(default_factory=list)
    failed: list[RowFailure] = field(default_factory=list)
    requests: int = 0
    splits: int = 0

    def merge(self, other: BatchOutcome) -> None:
        self.written.extend(other.written)
        self.failed.extend(other.failed)
        self.requests += other.requests
        self.splits += other.splits


def send_batch(kind: WriteKind, client: HubSpotApi, items: Sequence[WriteItem]) -> BatchOutcome:
    """Send ``items`` (one request group) and account for each row; re-send only what is unknown.

    Transient failures (5xx, transport, rate limits after retries, auth) propagate to the caller:
    they fail the run so that an Airflow retry can succeed later.

    :param kind: the write kind (send call, result and error attribution).
    :param client: what ``kind.send`` sends through.
    :param items: rows of one group, at most one request's worth.
    """
    outcome = BatchOutcome()
    if not items:
        return outcome
    outcome.requests += 1
    try:
        response = kind.send(client, items[0].group, [item.payload for item in items])
    except HubSpotError as err:
        return _request_refused(kind, client, items, err, outcome)
    body: Mapping[str, Any] = response.body if isinstance(response.body, Mapping) else {}
    errors = [e for e in body.get("errors") or [] if isinstance(e, Mapping)]
    num_errors = error_count(body, errors)
    results = [r for r in body.get("results") or [] if isinstance(r, Mapping)]
    if num_errors == 0:
        outcome.written.extend(zip(items, _object_ids(kind, results, len(items)), strict=True))
        return outcome
    placed, unplaced = attribute(kind, errors, items)
    for index, error in sorted(placed.items()):
        outcome.failed.append(_failure_from_error(kind, items[index], error))
    unknown = [i for i in range(len(items)) if i not in placed]
    still_bad = max(num_errors - len(placed), len(unplaced))
    if still_bad == 0 or not unknown:
        good = [items[i] for i in unknown]
        outcome.written.extend(zip(good, _object_ids(kind, results, len(good)), strict=True))
        return outcome
    # HubSpot applied the good rows already; learn which of the unknown ones failed, at least cost.
    return _applied_unknown(kind, client, items, unknown, still_bad, results, unplaced, outcome)


def _applied_unknown(
    kind: WriteKind,
    client: HubSpotApi,
    items: Sequence[WriteItem],
    unknown: list[int],
    still_bad: int,
    results: Sequence[Mapping[str, Any]],
    unplaced: Sequence[Mapping[str, Any]],
    outcome: BatchOutcome,
) -> BatchOutcome:
    """A 200/207 left ``still_bad`` of the ``unknown`` rows refused without naming them: tell them
    apart by the results first (free), then by re-sending as few rows as the counts allow."""
    elimination = eliminate(kind, items, unknown, results, still_bad)
    if elimination is None:
        _isolate(kind, client, [items[i] for i in unknown], still_bad, unplaced, outcome)
        return outcome
    for index in sorted(elimination.good):
        outcome.written.append((items[index], elimination.good[index]))
    for index in sorted(elimination.bad):
        outcome.failed.append(_unnamed_failure(kind, items[index], unplaced))
    for rows, bad in elimination.unsure:
        _isolate(kind, client, [items[i] for i in rows], bad, unplaced, outcome)
    return outcome


def _isolate(
    kind: WriteKind,
    client: HubSpotApi,
    rows: Sequence[WriteItem],
    bad: int,
    unplaced: Sequence[Mapping[str, Any]],
    outcome: BatchOutcome,
) -> None:
    """Find the ``bad`` refused rows among ``rows``, every other one already applied.

    Only one half is re-sent: its answer says how many of its rows fail, so the other half's count
    is known without sending it. A half known to hold no error is done (its rows are applied); a
    half whose rows all fail needs no request either.
    """
    if bad <= 0:
        outcome.written.extend((item, None) for item in rows)
        return
    if bad >= len(rows):
        outcome.failed.extend(_unnamed_failure(kind, item, unplaced) for item in rows)
        return
    outcome.splits += 1
    middle = len(rows) // 2
    first = send_batch(kind, client, rows[:middle])
    outcome.merge(first)
    rest = bad - len(first.failed)
    if rest < 0:
        # HubSpot's counts disagree with each other: the other half is sent to be sure.
        outcome.merge(send_batch(kind, client, rows[middle:]))
        return
    _isolate(kind, client, rows[middle:], rest, unplaced, outcome)


def _request_refused(
    kind: WriteKind, client: HubSpotApi, items: Sequence[WriteItem], err: HubSpotError, outcome: BatchOutcome
) -> BatchOutcome:
    """The request as a whole was refused: fail its rows, isolate the bad ones, or re-raise."""
    refusal = kind.refuse_request(err, items[0].group)
    if refusal is not None:
        outcome.failed.extend(RowFailure(item, *refusal) for item in items)
        return outcome
    if not isinstance(err, HubSpotValidationError):
        raise err
    # Whole-batch refusal: nothing was applied.
    if len(items) == 1:
        outcome.failed.append(_failure_from_error(kind, items[0], err.body, err.category, err.message))
        return outcome
    body = err.body if isinstance(err.body, Mapping) else {}
    details = [e for e in body.get("errors") or [] if isinstance(e, Mapping)]
    placed, unplaced = attribute(kind, details, items)
    if placed and not unplaced:
        # Every detail names its row: those failed, the rest go again in one request.
        for index, error in sorted(placed.items()):
            outcome.failed.append(_failure_from_error(kind, items[index], error, err.category, err.message))
        rest = [item for i, item in enumerate(items) if i not in placed]
        outcome.merge(send_batch(kind, client, rest))
        return outcome
    return _split(kind, client, items, outcome, err)


def _split(
    kind: WriteKind,
    client: HubSpotApi,
    items: Sequence[WriteItem],
    outcome: BatchOutcome,
    err: HubSpotValidationError,
) -> BatchOutcome:
    """Halve rows HubSpot refused whole without naming any; nothing of them was applied.

    The first half is sent. When it goes through, the second half holds the bad rows: it is not
    sent whole again (it would be refused again) but split at once, and a lone row left is the bad
    one. When the first half had a bad row too, nothing is known of the second: it is sent.
    """
    while True:
        middle = len(items) // 2
        outcome.splits += 1
        first = send_batch(kind, client, items[:middle])
        outcome.merge(first)
        second = items[middle:]
        if first.failed:
            outcome.merge(send_batch(kind, client, second))
            return outcome
        if len(second) == 1:
            outcome.failed.append(_failure_from_error(kind, second[0], err.body, err.category, err.message))
            return outcome
        items = second


def _object_ids(kind: WriteKind, results: Sequence[Mapping[str, Any]], expected: int) -> list[str | None]:
    """Object ids in input order when HubSpot returned one result per applied row, else unknowns."""
    if len(results) != expected:
        return [None] * expected
    return [kind.object_id(result) for result in results]


def _failure_from_error(
    kind: WriteKind, item: WriteItem, error: Any, category: str | None = None, message: str | None = None
) -> RowFailure:
    """A row's failure from the error object naming it (its category, message and first field),
    falling back to the request's ``category``/``message``."""
    body: Mapping[str, Any] = error if isinstance(error, Mapping) else {}
    category = _str(body.get("category")) or category
    message = _str(body.get("message")) or message
    field_name: str | None = _str(body.get("in"))
    details = body.get("errors")
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, Mapping) and isinstance(detail.get("in"), str):
                field_name = field_name or detail["in"]
                if not message and isinstance(detail.get("message"), str):
                    message = detail["message"]
                break
    # a kind may name a category its own way (e.g. an unknown event's per-row shape is reported as
    # its whole-request 404 is)
    category = kind.row_category(category or "VALIDATION_ERROR", field_name)
    return RowFailure(
        item=item,
        category=category,
        message=message or f"HubSpot refused the row without a message ({kind.words.noun})",
        field=field_name,
    )


def _unnamed_failure(kind: WriteKind, item: WriteItem, unplaced: Sequence[Mapping[str, Any]]) -> RowFailure:
    """A row HubSpot counted as failed without naming it: its reason, when every unnamed error
    gave the same one; else a plain statement of what is known."""
    reasons = {(_str(e.get("category")), _str(e.get("message"))) for e in unplaced}
    if len(reasons) == 1 and unplaced:
        return _failure_from_error(kind, item, unplaced[0])
    return RowFailure(
        item=item,
        category="VALIDATION_ERROR",
        message="HubSpot counted this row among the batch's errors without saying why "
        "(found by elimination; re-send it alone to see HubSpot's message)",
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
