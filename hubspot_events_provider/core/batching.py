"""Send one batch of rows and learn, for every row in it, whether HubSpot took it.

HubSpot's answer to a partly invalid batch is undocumented; this module copes with every shape:

* ``200`` with ``numErrors``/``errors[]`` and the valid rows applied,
* ``207`` with the same body,
* a whole-batch ``400`` that applies nothing and may not say which row was bad,
* a request-level error the write kind declares permanent for these rows (e.g. a ``404`` for an
  unknown event): every row of the request fails with that reason, the run goes on.

Each error is attributed to its row through the error ``context`` (``inputIndex``, or the key the
kind reads from the context, e.g. the ``externalAccountId``/``externalEventId`` pair; a kind whose
contexts name a row by less than its whole key, e.g. participations by the contact alone, says which
part with an optional ``context_key(item)``). When HubSpot
does not say which rows failed, the batch is split in halves and the halves are re-sent (safe: every
write the pipeline carries is idempotent by key) until every row is known good or known bad, so one
bad row never costs its neighbours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from hubspot_events_provider.core.errors import HubSpotError, HubSpotValidationError
from hubspot_events_provider.core.kinds import WriteKind
from hubspot_events_provider.core.rows import Key, WriteItem

__all__ = ["BatchOutcome", "RowFailure", "UpsertSender", "context_value", "send_batch"]


class UpsertSender(Protocol):
    """What the events kind needs from a client (``HubSpotClient`` satisfies it)."""

    def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> Any: ...


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

    upserted: list[tuple[WriteItem, str | None]] = field(default_factory=list)
    failed: list[RowFailure] = field(default_factory=list)
    requests: int = 0
    splits: int = 0

    def merge(self, other: BatchOutcome) -> None:
        self.upserted.extend(other.upserted)
        self.failed.extend(other.failed)
        self.requests += other.requests
        self.splits += other.splits


def send_batch(kind: WriteKind[Any], client: Any, items: Sequence[WriteItem]) -> BatchOutcome:
    """Send ``items`` (one request group) and account for each row; split when HubSpot does not say.

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
    num_errors = _as_int(body.get("numErrors"), default=len(errors))
    results = [r for r in body.get("results") or [] if isinstance(r, Mapping)]

    if not errors and num_errors == 0:
        outcome.upserted.extend(zip(items, _object_ids(kind, results, len(items)), strict=True))
        return outcome
    attributed = _attribute(kind, errors, items)
    if attributed is not None and len(attributed) == max(num_errors, len(errors)):
        good = [item for i, item in enumerate(items) if i not in attributed]
        outcome.upserted.extend(zip(good, _object_ids(kind, results, len(good)), strict=True))
        for index, error in sorted(attributed.items()):
            outcome.failed.append(
                _failure_from_error(
                    kind, items[index], _str(error.get("category")), _str(error.get("message")), error
                )
            )
        return outcome
    # HubSpot said some rows failed but not which: isolate them by re-sending halves.
    if len(items) == 1:
        first = errors[0] if errors else {}
        outcome.failed.append(
            _failure_from_error(
                kind, items[0], _str(first.get("category")), _str(first.get("message")), first
            )
        )
        return outcome
    return _split(kind, client, items, outcome)


def _request_refused(
    kind: WriteKind[Any], client: Any, items: Sequence[WriteItem], err: HubSpotError, outcome: BatchOutcome
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
        outcome.failed.append(_failure_from_error(kind, items[0], err.category, err.message, err.body))
        return outcome
    return _split(kind, client, items, outcome)


def _split(
    kind: WriteKind[Any], client: Any, items: Sequence[WriteItem], outcome: BatchOutcome
) -> BatchOutcome:
    middle = len(items) // 2
    outcome.splits += 1
    outcome.merge(send_batch(kind, client, items[:middle]))
    outcome.merge(send_batch(kind, client, items[middle:]))
    return outcome


def _attribute(
    kind: WriteKind[Any], errors: Sequence[Mapping[str, Any]], items: Sequence[WriteItem]
) -> dict[int, Mapping[str, Any]] | None:
    """Map each error to the index of its row, or ``None`` if any error cannot be placed."""
    named_by = _context_key_of(kind)
    by_key: dict[Key, list[int]] = {}
    for index, item in enumerate(items):
        by_key.setdefault(named_by(item), []).append(index)
    placed: dict[int, Mapping[str, Any]] = {}
    for error in errors:
        context = error.get("context")
        if not isinstance(context, Mapping):
            return None
        found = _context_index(context, len(items))
        if found is None:
            key = kind.key_from_context(context)
            candidates = by_key.get(key, []) if key is not None else []
            if len(candidates) != 1:
                return None
            found = candidates[0]
        placed[found] = error
    return placed


def _context_key_of(kind: WriteKind[Any]) -> Callable[[WriteItem], Key]:
    """How an error context names a row: the kind's optional ``context_key(item)``, else its key."""
    context_key = getattr(kind, "context_key", None)
    if callable(context_key):
        return cast("Callable[[WriteItem], Key]", context_key)
    return _whole_key


def _whole_key(item: WriteItem) -> Key:
    return item.key


def _context_index(context: Mapping[str, Any], size: int) -> int | None:
    raw = _first(context.get("inputIndex"))
    if raw is None:
        return None
    try:
        index = int(raw)
    except ValueError:
        return None
    return index if 0 <= index < size else None


def context_value(context: Mapping[str, Any], name: str) -> str | None:
    """A string in a HubSpot error ``context`` (values are one-element lists of strings).

    :param context: the error's ``context``.
    :param name: e.g. ``externalEventId``.
    """
    return _first(context.get(name))


def _first(value: Any) -> str | None:
    if isinstance(value, list | tuple) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def _object_ids(
    kind: WriteKind[Any], results: Sequence[Mapping[str, Any]], expected: int
) -> list[str | None]:
    """Object ids in input order when HubSpot returned one result per applied row, else unknowns."""
    if len(results) != expected:
        return [None] * expected
    return [kind.object_id(result) for result in results]


def _failure_from_error(
    kind: WriteKind[Any],
    item: WriteItem,
    category: str | None,
    message: str | None,
    body: Mapping[str, Any],
) -> RowFailure:
    field_name: str | None = None
    details = body.get("errors")
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, Mapping) and isinstance(detail.get("in"), str):
                field_name = detail["in"]
                if not message and isinstance(detail.get("message"), str):
                    message = detail["message"]
                break
    category = category or "VALIDATION_ERROR"
    # Optional: a kind may name a category its own way (e.g. an unknown event's per-row shape is
    # reported as its whole-request 404 is).
    row_category = getattr(kind, "row_category", None)
    if callable(row_category):
        category = str(row_category(category, field_name))
    return RowFailure(
        item=item,
        category=category,
        message=message or f"HubSpot refused the row without a message ({kind.words.noun})",
        field=field_name,
    )


def _as_int(value: Any, *, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    return default


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
