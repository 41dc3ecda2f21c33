"""decide_missing(): the guardrails on cancelling or deleting events that left the source."""

from __future__ import annotations

import pytest

from hubspot_events_provider.core.sync.guardrails import DeleteDecision, MissingAction, decide_missing


@pytest.mark.parametrize(
    ("action", "missing", "known", "source", "max_deletes", "fraction", "proceed", "reason", "limit"),
    [
        ("delete", 10, 100, 90, None, 0.1, True, "ok", 10),
        ("delete", 11, 100, 89, None, 0.1, False, "max_delete_fraction", 10),
        ("cancel", 60, 100, 40, None, 0.1, False, "max_delete_fraction", 10),
        ("delete", 60, 100, 40, None, None, True, "ok", None),
        ("delete", 60, 100, 40, None, 1.0, True, "ok", 100),
        ("delete", 5, 100, 95, 4, None, False, "max_deletes", 4),
        ("delete", 5, 100, 95, 5, 0.1, True, "ok", 5),
        ("delete", 3, 100, 97, 50, 0.02, False, "max_delete_fraction", 2),
        ("delete", 0, 100, 100, None, 0.1, True, "nothing_missing", 10),
        ("delete", 100, 100, 0, None, None, False, "empty_source", None),
        ("cancel", 100, 100, 0, 1000, 1.0, False, "empty_source", 100),
        ("ignore", 60, 100, 40, None, 0.1, False, "ignore", 10),
        ("delete", 1, 3, 2, None, 0.1, False, "max_delete_fraction", 0),
    ],
)
def test_decisions(
    action: MissingAction,
    missing: int,
    known: int,
    source: int,
    max_deletes: int | None,
    fraction: float | None,
    proceed: bool,
    reason: str,
    limit: int | None,
) -> None:
    decision = decide_missing(
        action=action,
        missing=missing,
        known=known,
        source_keys=source,
        max_deletes=max_deletes,
        max_delete_fraction=fraction,
    )
    assert (decision.proceed, decision.reason, decision.limit) == (proceed, reason, limit)
    assert (decision.missing, decision.known, decision.source_keys, decision.action) == (
        missing,
        known,
        source,
        action,
    )


def test_messages_name_the_counts_and_the_guardrail() -> None:
    lost = decide_missing(action="delete", missing=60, known=100, source_keys=40)
    assert lost.message == (
        "60 of 100 known event(s) are missing from the source (40 key(s)), 60.0 % of the known events; "
        "max_delete_fraction=0.1 allows at most 10: nothing was deleted."
    )
    capped = decide_missing(action="cancel", missing=5, known=100, source_keys=95, max_deletes=4)
    assert capped.message == (
        "5 of 100 known event(s) are missing from the source (95 key(s)); max_deletes=4 allows at most 4: "
        "nothing was cancelled."
    )
    empty = decide_missing(action="delete", missing=100, known=100, source_keys=0, max_delete_fraction=None)
    assert empty.message == "the source is empty: nothing was deleted (100 known event(s) kept)."
    ok = decide_missing(action="cancel", missing=3, known=100, source_keys=97)
    assert ok.message.endswith("; 3 will be cancelled.")


def test_default_fraction_is_ten_percent_and_as_dict() -> None:
    decision = decide_missing(action="delete", missing=11, known=100, source_keys=89)
    assert isinstance(decision, DeleteDecision)
    assert decision.as_dict() == {
        "action": "delete",
        "proceed": False,
        "reason": "max_delete_fraction",
        "missing": 11,
        "known": 100,
        "source_keys": 89,
        "limit": 10,
        "message": decision.message,
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"action": "purge"}, "on_missing"),
        ({"max_deletes": -1}, "max_deletes"),
        ({"max_delete_fraction": 1.5}, "max_delete_fraction"),
        ({"max_delete_fraction": -0.1}, "max_delete_fraction"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    params: dict[str, object] = {"action": "delete", "missing": 1, "known": 10, "source_keys": 9}
    params.update(kwargs)
    with pytest.raises(ValueError, match=match):
        decide_missing(**params)  # type: ignore[arg-type]
