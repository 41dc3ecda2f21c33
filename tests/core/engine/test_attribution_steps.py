"""attribute() and eliminate() on their own, one table per way an answer can name a row.

Each case of a step's table names its row in that step's way only (no other step could find it),
so removing the step, or bending one of its comparisons, fails the table. The edges sit beside
the plain cases: an index equal to the batch size, a key no row has, a field no row holds, an id
inside a longer token; for the results, a result that fits no row and identical rows that were
both applied (whose object ids could be swapped, so none is given).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from hubspot_events_provider.core.engine.attribution import Elimination, attribute, context_value, eliminate
from hubspot_events_provider.core.kinds.events.kind import EventKind
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.identity import Key, RowRef, WriteItem

ROWS = 4


def row(i: int, eid: str | None = None, **fields: Any) -> WriteItem:
    """Row ``i`` of a batch: its own event id, name and contact, plus ``fields``."""
    payload = {
        "externalAccountId": "acme",  # shared by every row: names none of them
        "externalEventId": eid or f"e{i}",
        "eventName": f"Event {i}",
        "contactId": 100 + i,
        **fields,
    }
    return WriteItem(RowRef(i + 1, None, {"row": i}, "events"), ("acme", payload["externalEventId"]), payload)


BATCH = [row(i) for i in range(ROWS)]
EVENTS = EventKind(EventMapper())


class ByReference(EventKind):
    """Errors name an event by one ``eventRef`` no payload holds; rows are compared by their key
    (this kind says nothing else, so the default applies)."""

    def key_from_context(self, context: Mapping[str, Any]) -> Key | None:
        ref = context_value(context, "eventRef")
        return tuple(ref.split("/", 1)) if ref is not None and "/" in ref else None


class ByContact(EventKind):
    """Errors name a row by its contact id alone (as participations do), under a name the payload
    does not use: the kind says which part of a row that is."""

    def key_from_context(self, context: Mapping[str, Any]) -> Key | None:
        vid = context_value(context, "vid")
        return (vid,) if vid is not None else None

    def context_key(self, item: WriteItem) -> Key:
        return (str(item.payload["contactId"]),)


def error(context: Any = None, message: Any = "A row was refused.", **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"status": "error", "category": "VALIDATION_ERROR", "message": message, **more}
    if context is not None:
        out["context"] = context
    return out


def place(kind: EventKind, one: Mapping[str, Any], items: Sequence[WriteItem] = BATCH) -> int | None:
    """The row ``one`` error lands on, or ``None`` (checking it is then left unplaced)."""
    placed, unplaced = attribute(kind, [one], items)
    if placed:
        ((position, placed_error),) = placed.items()
        assert (placed_error, unplaced) == (one, [])
        return position
    assert unplaced == [one]
    return None


# -- step 1: context.inputIndex -------------------------------------------------------------------

BY_INDEX: list[tuple[str, dict[str, Any], int | None]] = [
    ("as text", {"inputIndex": ["2"]}, 2),
    ("as a number", {"inputIndex": 2}, 2),
    ("as a one-element list of numbers", {"inputIndex": [1]}, 1),
    ("in a tuple", {"inputIndex": ("3",)}, 3),
    ("the first row", {"inputIndex": ["0"]}, 0),
    ("the last row", {"inputIndex": [str(ROWS - 1)]}, ROWS - 1),
    ("equal to the batch size", {"inputIndex": [str(ROWS)]}, None),
    ("negative", {"inputIndex": ["-1"]}, None),
    ("an empty list", {"inputIndex": []}, None),
    ("not a number", {"inputIndex": ["two"]}, None),
    ("a boolean is not an index", {"inputIndex": [True]}, None),
    ("beside an id that agrees", {"inputIndex": ["1"], "externalEventId": ["e1"]}, 1),
    ("beside an id that agrees but for case", {"inputIndex": ["1"], "externalEventId": ["E1"]}, 1),
    ("beside a field no row has", {"inputIndex": ["1"], "vid": ["7"]}, 1),
    # Not trusted, and not guessed further either: the ids alone would name e2.
    (
        "beside ids that contradict it",
        {"inputIndex": ["0"], "externalAccountId": ["acme"], "externalEventId": ["e2"]},
        None,
    ),
    (
        "contradicted after a field no row has",
        {"vid": ["7"], "externalEventId": ["e2"], "inputIndex": ["0"]},
        None,
    ),
]


@pytest.mark.parametrize(("context", "expected"), [c[1:] for c in BY_INDEX], ids=[c[0] for c in BY_INDEX])
def test_step_1_input_index(context: dict[str, Any], expected: int | None) -> None:
    assert place(EVENTS, error(context)) == expected


# -- step 2: the key the kind reads from the context ----------------------------------------------

TWINS = [row(0), row(1, eid="dup"), row(2, eid="dup"), row(3)]

BY_KEY: list[tuple[str, EventKind, dict[str, Any], list[WriteItem], int | None]] = [
    ("the row's key (the default)", ByReference(EventMapper()), {"eventRef": ["acme/e2"]}, BATCH, 2),
    ("a plain string, not a list", ByReference(EventMapper()), {"eventRef": "acme/e1"}, BATCH, 1),
    ("a key no row has", ByReference(EventMapper()), {"eventRef": ["acme/e9"]}, BATCH, None),
    ("a key two rows share", ByReference(EventMapper()), {"eventRef": ["acme/dup"]}, TWINS, None),
    ("the part the kind names (context_key)", ByContact(EventMapper()), {"vid": ["102"]}, BATCH, 2),
    ("a contact no row has", ByContact(EventMapper()), {"vid": ["999"]}, BATCH, None),
]


@pytest.mark.parametrize(
    ("kind", "context", "items", "expected"), [c[1:] for c in BY_KEY], ids=[c[0] for c in BY_KEY]
)
def test_step_2_context_key(
    kind: EventKind, context: dict[str, Any], items: list[WriteItem], expected: int | None
) -> None:
    assert place(kind, error(context), items) == expected


# -- step 3: the context's fields matched against the inputs' ---------------------------------------

ONE_EMAIL = [row(0), row(1, email="b@example.com"), row(2), row(3)]
FIRST_PUBLIC = [row(i, isPublic=i == 0) for i in range(ROWS)]
FIRST_PRIVATE = [row(i, isPublic=i != 0) for i in range(ROWS)]

BY_FIELDS: list[tuple[str, dict[str, Any], list[WriteItem], int | None]] = [
    ("one field", {"externalEventId": ["e3"]}, BATCH, 3),
    ("two fields, both hold", {"externalAccountId": ["acme"], "eventName": ["Event 2"]}, BATCH, 2),
    ("case is ignored", {"eventName": ["EVENT 2"]}, BATCH, 2),
    ("a number as text", {"contactId": ["101"]}, BATCH, 1),
    ("true as text", {"isPublic": ["true"]}, FIRST_PUBLIC, 0),
    ("false as text", {"isPublic": ["false"]}, FIRST_PRIVATE, 0),
    ("only the row that has the field", {"email": ["B@Example.com"]}, ONE_EMAIL, 1),
    ("a field no row has stops the match", {"eventName": ["Event 2"], "vid": ["7"]}, BATCH, None),
    ("a value that is not text is left out", {"eventName": ["Event 2"], "seats": [3]}, BATCH, 2),
    ("an index out of range leaves the fields", {"inputIndex": ["9"], "eventName": ["Event 2"]}, BATCH, 2),
    ("two rows fit", {"externalAccountId": ["acme"]}, BATCH, None),
]


@pytest.mark.parametrize(
    ("context", "items", "expected"), [c[1:] for c in BY_FIELDS], ids=[c[0] for c in BY_FIELDS]
)
def test_step_3_context_fields(context: dict[str, Any], items: list[WriteItem], expected: int | None) -> None:
    assert place(EVENTS, error(context), items) == expected


# -- step 4: an id named in the message --------------------------------------------------------------

BY_MESSAGE: list[tuple[str, dict[str, Any], int | None]] = [
    ("the message", error(message="Event e2 was refused."), 2),
    ("a nested errors[].message", error(message="Invalid input", errors=[{"message": "e3: not a date"}]), 3),
    (
        "an id ending the message, then a detail",
        error(message="Invalid externalEventId e1", errors=[{"message": "must be unique"}]),
        1,
    ),
    ("a message that is not text", error(message="Event e2 was refused.", errors=[{"message": 42}, "e1"]), 2),
    ("inside a longer token", error(message="Event e2x was refused."), None),
    ("two ids", error(message="e1 or e2 was refused."), None),
    ("the shared account names no row", error(message="acme refused it."), None),
    ("no message at all", error(message=None, errors=[]), None),
    ("a context that is not a mapping", error(["e1"], message="Event e1 was refused."), 1),
]


@pytest.mark.parametrize(("one", "expected"), [c[1:] for c in BY_MESSAGE], ids=[c[0] for c in BY_MESSAGE])
def test_step_4_message(one: dict[str, Any], expected: int | None) -> None:
    assert place(EVENTS, one) == expected


def test_a_second_error_on_a_placed_row_is_left_unplaced() -> None:
    first, second, third = error({"inputIndex": ["1"]}), error({"externalEventId": ["e1"]}), error()
    placed, unplaced = attribute(EVENTS, [first, second, third], BATCH)
    assert placed == {1: first}
    assert unplaced == [second, third]


@pytest.mark.parametrize(
    ("context", "name", "expected"),
    [
        ({"email": ["a@example.com"]}, "email", "a@example.com"),
        ({"email": "a@example.com"}, "email", "a@example.com"),
        ({"email": []}, "email", None),
        ({"vid": [7]}, "vid", None),
        ({"email": ["a@example.com"]}, "vid", None),
    ],
)
def test_context_value(context: dict[str, Any], name: str, expected: str | None) -> None:
    assert context_value(context, name) == expected


# -- elimination by the results ----------------------------------------------------------------------


def dated(i: int, start: str, **fields: Any) -> WriteItem:
    """Rows alike (one name) but for their start and ``fields``."""
    payload = {"externalAccountId": "acme", "externalEventId": f"e{i}", "eventName": "Stand-up"}
    payload |= {"startDateTime": start, **fields}
    return WriteItem(RowRef(i + 1, None, {"row": i}, "events"), ("acme", f"e{i}"), payload)


def echo(item: WriteItem, **fields: Any) -> dict[str, Any]:
    """HubSpot's result for an applied row: its object id and its fields, but not its external ids."""
    kept = {k: v for k, v in item.payload.items() if k not in ("externalAccountId", "externalEventId")}
    return {"objectId": f"id-{item.key[1]}", **kept, **fields}


@pytest.mark.parametrize("zone", ["Z", "z", "+00:00"])
def test_dates_echoed_in_utc_tell_the_rows_apart(zone: str) -> None:
    items = [dated(i, f"2026-05-0{i + 1}T09:00:00+02:00") for i in range(3)]
    results = [echo(items[i], startDateTime=f"2026-05-0{i + 1}T07:00:00{zone}") for i in (0, 2)]
    outcome = eliminate(EVENTS, items, [0, 1, 2], results, 1)
    assert outcome == Elimination(good={0: "id-e0", 2: "id-e2"}, bad=[1])


def test_a_naive_date_is_not_taken_for_an_echo_with_a_zone() -> None:
    # Which zone HubSpot gives a date without one is unknown: even the worker's own zone (which
    # would make these equal) is no proof, so the dates tell nothing and the rows stay unsure.
    items = [dated(i, f"2026-05-0{i + 1}T09:00:00") for i in range(3)]
    local = [dt.datetime(2026, 5, i + 1, 9).astimezone().isoformat() for i in range(3)]
    results = [echo(items[i], startDateTime=local[i]) for i in (0, 2)]
    outcome = eliminate(EVENTS, items, [0, 1, 2], results, 1)
    assert outcome == Elimination(unsure=[([0, 1, 2], 1)])


@pytest.mark.parametrize(
    ("values", "echoed"),
    [
        ((10, 20, 30), (10, 30)),
        ((10, 20, 30), ("10", "30")),
        ((True, False), ("true",)),
        ((False, True), ("false",)),
    ],
    ids=["numbers", "numbers echoed as text", "true echoed as text", "false echoed as text"],
)
def test_numbers_and_booleans_are_compared_as_text(values: tuple[Any, ...], echoed: tuple[Any, ...]) -> None:
    items = [dated(i, "2026-05-01T09:00:00Z", seats=v) for i, v in enumerate(values)]
    applied = [0, len(values) - 1] if len(echoed) == 2 else [0]
    results = [echo(items[i], seats=e) for i, e in zip(applied, echoed, strict=True)]
    refused = [i for i in range(len(values)) if i not in applied]
    outcome = eliminate(EVENTS, items, list(range(len(values))), results, len(refused))
    assert outcome == Elimination(good={i: f"id-e{i}" for i in applied}, bad=refused)


def test_fields_that_are_not_scalars_are_not_compared() -> None:
    items = [dated(i, "2026-05-01T09:00:00Z", tags=[f"t{i}"]) for i in range(2)]
    outcome = eliminate(EVENTS, items, [0, 1], [echo(items[0])], 1)
    assert outcome == Elimination(unsure=[([0, 1], 1)])


def test_identical_rows_both_applied_get_no_object_id() -> None:
    # Either result could be either row's: an id given to one could be the other's.
    items = [
        dated(0, "2026-05-01T09:00:00Z"),
        dated(1, "2026-05-01T09:00:00Z"),
        dated(2, "2026-05-03T09:00:00Z"),
    ]
    results = [echo(items[1]), echo(items[0])]
    outcome = eliminate(EVENTS, items, [0, 1, 2], results, 1)
    assert outcome == Elimination(good={0: None, 1: None}, bad=[2])


def test_one_unknown_row_takes_its_result() -> None:
    items = [dated(i, f"2026-05-0{i + 1}T09:00:00Z") for i in range(3)]
    assert eliminate(EVENTS, items, [2], [echo(items[2])], 0) == Elimination(good={2: "id-e2"})


@pytest.mark.parametrize(
    ("results", "failed"),
    [
        # Each value is some row's, the pair is no row's (row 0's date, row 1's seats).
        (
            [
                {
                    "objectId": "id-x",
                    "eventName": "Stand-up",
                    "startDateTime": "2026-05-01T09:00:00Z",
                    "seats": 2,
                }
            ],
            1,
        ),
        ([], 2),
        ([{"objectId": "id-x"}], 1),
        ([{"objectId": "id-x"}, {"objectId": "id-y"}], 1),
    ],
    ids=["a result that fits no row", "no results at all", "no field echoed", "counts that do not add up"],
)
def test_results_that_cannot_be_matched_give_no_verdict(results: list[dict[str, Any]], failed: int) -> None:
    items = [dated(i, f"2026-05-0{i + 1}T09:00:00Z", seats=i + 1) for i in range(2)]
    assert eliminate(EVENTS, items, [0, 1], results, failed) is None
