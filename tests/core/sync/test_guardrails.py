"""decide_missing(): the guardrails on cancelling or deleting events that left the source."""

from __future__ import annotations

from typing import Any

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


# Each limit at its edges: 0, exactly at the limit, one over; the fraction at 0.0, exactly at, just
# over; and the empty state (nothing known yet, or an empty source).
BOUNDARIES: list[tuple[str, dict[str, Any], tuple[bool, str, int | None]]] = [
    ("max_deletes=0, nothing missing", {"missing": 0, "max_deletes": 0}, (True, "nothing_missing", 0)),
    ("max_deletes=0, one missing", {"missing": 1, "max_deletes": 0}, (False, "max_deletes", 0)),
    ("max_deletes exactly at", {"missing": 7, "max_deletes": 7}, (True, "ok", 7)),
    ("max_deletes one over", {"missing": 8, "max_deletes": 7}, (False, "max_deletes", 7)),
    (
        "fraction 0.0, nothing missing",
        {"missing": 0, "max_delete_fraction": 0.0},
        (True, "nothing_missing", 0),
    ),
    (
        "fraction 0.0, one missing",
        {"missing": 1, "max_delete_fraction": 0.0},
        (False, "max_delete_fraction", 0),
    ),
    ("fraction exactly at", {"missing": 25, "max_delete_fraction": 0.25}, (True, "ok", 25)),
    ("fraction just over", {"missing": 26, "max_delete_fraction": 0.25}, (False, "max_delete_fraction", 25)),
    # 0.3 * 10 is 2.9999999999999996 in floating point: still a limit of 3.
    (
        "fraction exactly at, inexact float",
        {"missing": 3, "known": 10, "max_delete_fraction": 0.3},
        (True, "ok", 3),
    ),
    ("fraction 1.0, everything missing", {"missing": 100, "max_delete_fraction": 1.0}, (True, "ok", 100)),
    (
        "the lower of both limits: count",
        {"missing": 6, "max_deletes": 5, "max_delete_fraction": 0.5},
        (False, "max_deletes", 5),
    ),
    (
        "the lower of both limits: fraction",
        {"missing": 6, "max_deletes": 50, "max_delete_fraction": 0.05},
        (False, "max_delete_fraction", 5),
    ),
    ("nothing known yet", {"missing": 0, "known": 0, "source_keys": 5}, (True, "nothing_missing", 0)),
    ("nothing known, empty source", {"missing": 0, "known": 0, "source_keys": 0}, (False, "empty_source", 0)),
    (
        "empty source, no limits",
        {"missing": 100, "source_keys": 0, "max_delete_fraction": None},
        (False, "empty_source", None),
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), [c[1:] for c in BOUNDARIES], ids=[c[0] for c in BOUNDARIES])
def test_boundaries(kwargs: dict[str, Any], expected: tuple[bool, str, int | None]) -> None:
    params: dict[str, Any] = {"action": "delete", "known": 100, "source_keys": 100}
    params |= kwargs
    decision = decide_missing(**params)
    assert (decision.proceed, decision.reason, decision.limit) == expected


def test_zero_limits_are_valid_and_named_in_the_message() -> None:
    none_at_all = decide_missing(action="cancel", missing=1, known=100, source_keys=99, max_deletes=0)
    assert none_at_all.message == (
        "1 of 100 known event(s) are missing from the source (99 key(s)); max_deletes=0 allows at most 0: "
        "nothing was cancelled."
    )
    no_share = decide_missing(action="delete", missing=1, known=100, source_keys=99, max_delete_fraction=0.0)
    assert no_share.message == (
        "1 of 100 known event(s) are missing from the source (99 key(s)), 1.0 % of the known events; "
        "max_delete_fraction=0 allows at most 0: nothing was deleted."
    )


def test_more_missing_than_known_is_a_whole_share_not_a_division_by_zero() -> None:
    # Counts the state cannot produce (missing events are known ones), still a decision, not a crash.
    decision = decide_missing(action="delete", missing=2, known=0, source_keys=3)
    assert (decision.proceed, decision.reason, decision.limit) == (False, "max_delete_fraction", 0)
    assert ", 100.0 % of the known events; max_delete_fraction=0.1 allows at most 0" in decision.message


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
    ignored = decide_missing(action="ignore", missing=3, known=100, source_keys=97)
    assert ignored.message == (
        "3 of 100 known event(s) are missing from the source (97 key(s)); on_missing='ignore': "
        "nothing was cancelled or deleted."
    )
    none = decide_missing(action="cancel", missing=0, known=100, source_keys=100)
    assert none.message == (
        "0 of 100 known event(s) are missing from the source (100 key(s)); nothing to be cancelled."
    )


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
