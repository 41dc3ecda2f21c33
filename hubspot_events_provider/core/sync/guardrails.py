"""Guardrails for events that left the source: cancel or delete them only within limits.

:func:`decide_missing` is a pure function: given how many known events of the run's accounts are
missing from the source (see :meth:`.state.SyncState.missing_keys`), how many are known and how
many keys the source has, it returns a :class:`DeleteDecision` whose message names the counts and
the guardrail that stopped it, if any.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["DEFAULT_MAX_DELETE_FRACTION", "DeleteDecision", "MissingAction", "decide_missing"]

MissingAction = Literal["ignore", "cancel", "delete"]
DEFAULT_MAX_DELETE_FRACTION = 0.1


@dataclass(frozen=True)
class DeleteDecision:
    """Whether to cancel or delete the events missing from the source, and why.

    :param action: ``ignore``, ``cancel`` or ``delete``.
    :param proceed: ``True`` when the missing events may be acted on now.
    :param reason: ``ignore``, ``empty_source``, ``nothing_missing``, ``max_deletes``,
        ``max_delete_fraction`` or ``ok``.
    :param missing: known events of the run's accounts that left the source.
    :param known: known events of the run's accounts.
    :param source_keys: distinct keys in the source this run.
    :param limit: the most events the guardrails allow this run (``None``: no limit).
    :param message: a sentence naming the counts and the guardrail.
    """

    action: MissingAction
    proceed: bool
    reason: str
    missing: int
    known: int
    source_keys: int
    limit: int | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for the task summary."""
        return dict(self.__dict__)


def decide_missing(
    *,
    action: MissingAction,
    missing: int,
    known: int,
    source_keys: int,
    max_deletes: int | None = None,
    max_delete_fraction: float | None = DEFAULT_MAX_DELETE_FRACTION,
) -> DeleteDecision:
    """Apply the guardrails to the events missing from the source (a pure function).

    An empty source never cancels or deletes anything (an emptied table is far likelier a broken
    extract than a wish to wipe HubSpot). Otherwise ``missing`` may not exceed ``max_deletes`` nor
    ``max_delete_fraction`` of the ``known`` events; a breach stops everything, it does not act on a
    first slice.

    :param action: ``on_missing``: ``ignore``, ``cancel`` or ``delete``.
    :param missing: known events of the run's accounts that left the source.
    :param known: known events of the run's accounts.
    :param source_keys: distinct keys in the source this run.
    :param max_deletes: most events one run may cancel/delete; ``None`` for no count limit.
    :param max_delete_fraction: most events one run may cancel/delete, as a fraction of ``known``
        (default 0.1); ``None`` for no fraction limit.
    :raises ValueError: on an unknown action or a limit out of range.
    """
    _check_arguments(action, max_deletes, max_delete_fraction)
    fraction_limit = None if max_delete_fraction is None else int(max_delete_fraction * known + 1e-9)
    limits = [n for n in (max_deletes, fraction_limit) if n is not None]
    limit = min(limits) if limits else None
    verb = {"ignore": "left alone", "cancel": "cancelled", "delete": "deleted"}[action]
    counts = f"{missing} of {known} known event(s) are missing from the source ({source_keys} key(s))"

    def decision(proceed: bool, reason: str, message: str) -> DeleteDecision:
        return DeleteDecision(action, proceed, reason, missing, known, source_keys, limit, message)

    if action == "ignore":
        return decision(False, "ignore", f"{counts}; on_missing='ignore': nothing was cancelled or deleted.")
    if source_keys == 0:
        return decision(
            False, "empty_source", f"the source is empty: nothing was {verb} ({known} known event(s) kept)."
        )
    if missing == 0:
        return decision(True, "nothing_missing", f"{counts}; nothing to be {verb}.")
    breach = _breach(missing, known, max_deletes, max_delete_fraction, fraction_limit)
    if breach is not None:
        reason, why = breach
        return decision(False, reason, f"{counts}{why}: nothing was {verb}.")
    return decision(True, "ok", f"{counts}; {missing} will be {verb}.")


def _check_arguments(action: str, max_deletes: int | None, max_delete_fraction: float | None) -> None:
    if action not in ("ignore", "cancel", "delete"):
        raise ValueError(f"on_missing must be 'ignore', 'cancel' or 'delete', not {action!r}")
    if max_deletes is not None and max_deletes < 0:
        raise ValueError(f"max_deletes must be >= 0, not {max_deletes}")
    if max_delete_fraction is not None and not 0.0 <= max_delete_fraction <= 1.0:
        raise ValueError(f"max_delete_fraction must be within [0, 1], not {max_delete_fraction}")


def _breach(
    missing: int,
    known: int,
    max_deletes: int | None,
    max_delete_fraction: float | None,
    fraction_limit: int | None,
) -> tuple[str, str] | None:
    """The guardrail ``missing`` breaks first (its name and what to say), or ``None``."""
    if max_deletes is not None and missing > max_deletes:
        return "max_deletes", f"; max_deletes={max_deletes} allows at most {max_deletes}"
    if fraction_limit is not None and missing > fraction_limit:
        share = 100.0 * missing / known if known else 100.0
        return (
            "max_delete_fraction",
            f", {share:.1f} % of the known events; max_delete_fraction={max_delete_fraction:g} "
            f"allows at most {fraction_limit}",
        )
    return None
