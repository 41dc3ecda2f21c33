"""Send one batch of events and learn, for every row in it, whether HubSpot took it.

HubSpot's answer to a partly invalid upsert batch is undocumented; this module copes with all
three shapes seen in the wild:

* ``200`` with ``numErrors``/``errors[]`` and the valid rows applied,
* ``207`` with the same body,
* a whole-batch ``400`` that applies nothing and may not say which row was bad.

Each error is attributed to its row through the error ``context`` (``inputIndex``, or the
``externalAccountId``/``externalEventId`` pair). When HubSpot does not say which rows failed, the
batch is split in halves and the halves are re-sent (safe: upsert is idempotent by external ids)
until every row is known good or known bad, so one bad row never costs its neighbours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hubspot_events_provider.core.errors import HubSpotValidationError

__all__ = ["BatchItem", "BatchOutcome", "RowFailure", "UpsertSender", "send_batch"]


class UpsertSender(Protocol):
    """What :func:`send_batch` needs from a client (``HubSpotClient`` satisfies it)."""

    def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> Any: ...


@dataclass(frozen=True)
class BatchItem:
    """One event ready to send, with where it came from.

    :param position: 1-based row number in the source.
    :param line: line number in the source file, when known.
    :param key: ``(externalAccountId, externalEventId)``.
    :param original: the row as read from the source (for the rejected file).
    :param payload: the HubSpot input object.
    """

    position: int
    line: int | None
    key: tuple[str, str]
    original: Mapping[str, Any]
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class RowFailure:
    """A row HubSpot refused."""

    item: BatchItem
    category: str
    message: str
    field: str | None = None


@dataclass
class BatchOutcome:
    """What became of every row of a batch, and what it cost."""

    upserted: list[tuple[BatchItem, str | None]] = field(default_factory=list)
    failed: list[RowFailure] = field(default_factory=list)
    requests: int = 0
    splits: int = 0

    def merge(self, other: BatchOutcome) -> None:
        self.upserted.extend(other.upserted)
        self.failed.extend(other.failed)
        self.requests += other.requests
        self.splits += other.splits


def send_batch(sender: UpsertSender, items: Sequence[BatchItem]) -> BatchOutcome:
    """Upsert ``items`` and account for each row; split the batch when HubSpot does not say.

    Transient failures (5xx, transport, rate limits after retries, auth) propagate to the caller:
    they fail the run so that an Airflow retry can succeed later.
    """
    outcome = BatchOutcome()
    if not items:
        return outcome
    outcome.requests += 1
    try:
        response = sender.upsert_events([item.payload for item in items])
    except HubSpotValidationError as err:
        # Whole-batch refusal: nothing was applied.
        if len(items) == 1:
            outcome.failed.append(_failure_from_error(items[0], err.category, err.message, err.body))
            return outcome
        return _split(sender, items, outcome)

    body: Mapping[str, Any] = response.body if isinstance(response.body, Mapping) else {}
    errors = [e for e in body.get("errors") or [] if isinstance(e, Mapping)]
    num_errors = _as_int(body.get("numErrors"), default=len(errors))
    results = [r for r in body.get("results") or [] if isinstance(r, Mapping)]

    if not errors and num_errors == 0:
        ids = _object_ids(results, len(items))
        outcome.upserted.extend(zip(items, ids, strict=True))
        return outcome

    attributed = _attribute(errors, items)
    if attributed is not None and len(attributed) == max(num_errors, len(errors)):
        bad_indexes = set(attributed)
        good = [item for i, item in enumerate(items) if i not in bad_indexes]
        ids = _object_ids(results, len(good))
        outcome.upserted.extend(zip(good, ids, strict=True))
        for index, error in sorted(attributed.items()):
            outcome.failed.append(
                _failure_from_error(
                    items[index], _str(error.get("category")), _str(error.get("message")), error
                )
            )
        return outcome

    # HubSpot said some rows failed but not which: isolate them by re-sending halves.
    if len(items) == 1:
        first = errors[0] if errors else {}
        outcome.failed.append(
            _failure_from_error(items[0], _str(first.get("category")), _str(first.get("message")), first)
        )
        return outcome
    return _split(sender, items, outcome)


def _split(sender: UpsertSender, items: Sequence[BatchItem], outcome: BatchOutcome) -> BatchOutcome:
    middle = len(items) // 2
    outcome.splits += 1
    outcome.merge(send_batch(sender, items[:middle]))
    outcome.merge(send_batch(sender, items[middle:]))
    return outcome


def _attribute(
    errors: Sequence[Mapping[str, Any]], items: Sequence[BatchItem]
) -> dict[int, Mapping[str, Any]] | None:
    """Map each error to the index of its row, or ``None`` if any error cannot be placed."""
    by_key: dict[tuple[str, str], list[int]] = {}
    for index, item in enumerate(items):
        by_key.setdefault(item.key, []).append(index)
    placed: dict[int, Mapping[str, Any]] = {}
    for error in errors:
        context = error.get("context")
        if not isinstance(context, Mapping):
            return None
        found = _context_index(context, len(items))
        if found is not None:
            placed[found] = error
            continue
        account = _first(context.get("externalAccountId"))
        event = _first(context.get("externalEventId"))
        candidates = by_key.get((account, event), []) if account is not None and event is not None else []
        if len(candidates) != 1:
            return None
        placed[candidates[0]] = error
    return placed


def _context_index(context: Mapping[str, Any], size: int) -> int | None:
    raw = _first(context.get("inputIndex"))
    if raw is None:
        return None
    try:
        index = int(raw)
    except ValueError:
        return None
    return index if 0 <= index < size else None


def _first(value: Any) -> str | None:
    if isinstance(value, list | tuple) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def _object_ids(results: Sequence[Mapping[str, Any]], expected: int) -> list[str | None]:
    """Object ids in input order when HubSpot returned one result per applied row, else unknowns."""
    if len(results) != expected:
        return [None] * expected
    ids: list[str | None] = []
    for result in results:
        value = result.get("objectId", result.get("id"))
        ids.append(str(value) if value is not None else None)
    return ids


def _failure_from_error(
    item: BatchItem, category: str | None, message: str | None, body: Mapping[str, Any]
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
    return RowFailure(
        item=item,
        category=category or "VALIDATION_ERROR",
        message=message or "HubSpot refused the event without a message",
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
