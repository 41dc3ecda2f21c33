"""EventSpool: SQLite de-duplication, last row wins, superseded listing, clean-up."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import pytest

from hubspot_events_provider.core.spool import EventSpool, SpooledEvent, SupersededEvent


def _payload(eid: str, name: str) -> dict[str, str]:
    return {"externalAccountId": "acme", "externalEventId": eid, "eventName": name, "eventOrganizer": "o"}


def test_last_row_wins_and_others_are_listed(tmp_path: Path) -> None:
    rows = [
        (1, 2, ("acme", "e1"), "first e1"),
        (2, 3, ("acme", "e2"), "only e2"),
        (3, 4, ("acme", "e1"), "second e1"),
        (4, 5, ("other", "e1"), "e1 of another account"),
        (5, 6, ("acme", "e1"), "third e1"),
    ]
    with EventSpool(tmp_path) as spool:
        for position, line, key, name in rows:
            spool.add(position, line, key, {"id": key[1], "name": name}, _payload(key[1], name))
        spool.finish()
        assert spool.total_count == 5
        assert spool.winner_count == 3
        assert spool.superseded_count == 2
        winners = list(spool.winners())
        superseded = list(spool.superseded())
    assert [w.position for w in winners] == [2, 4, 5]
    assert winners[2] == SpooledEvent(
        5, 6, ("acme", "e1"), {"id": "e1", "name": "third e1"}, _payload("e1", "third e1")
    )
    assert superseded == [
        SupersededEvent(1, 2, ("acme", "e1"), {"id": "e1", "name": "first e1"}, 5),
        SupersededEvent(3, 4, ("acme", "e1"), {"id": "e1", "name": "second e1"}, 5),
    ]


def test_many_rows_in_chunks(tmp_path: Path) -> None:
    n = 5000
    with EventSpool(tmp_path) as spool:
        for position in range(1, n + 1):
            eid = f"e{position % 1000}"
            spool.add(position, None, ("acme", eid), {"p": position}, _payload(eid, str(position)))
        spool.finish()
        winners = list(spool.winners())
        superseded = list(spool.superseded())
    assert len(winners) == 1000
    assert [w.position for w in winners] == list(range(n - 999, n + 1))
    assert len(superseded) == n - 1000
    assert all(s.replaced_by > s.position for s in superseded)
    assert all((s.replaced_by - s.position) % 1000 == 0 for s in superseded)
    assert {w.payload["eventName"] for w in winners} == {str(p) for p in range(n - 999, n + 1)}


def test_no_duplicates_no_superseded(tmp_path: Path) -> None:
    with EventSpool(tmp_path) as spool:
        spool.add(1, 1, ("a", "1"), {}, _payload("1", "x"))
        spool.finish()
        assert list(spool.superseded()) == []
        assert spool.superseded_count == 0


def test_empty_spool(tmp_path: Path) -> None:
    with EventSpool(tmp_path) as spool:
        spool.finish()
        assert spool.winner_count == 0
        assert list(spool.winners()) == []


def test_original_rows_from_cursors_are_kept_json_safe(tmp_path: Path) -> None:
    original = {"when": dt.datetime(2024, 5, 1, 10, 0), "price": Decimal("9.99"), "name": "Café"}
    with EventSpool(tmp_path) as spool:
        spool.add(1, None, ("a", "1"), original, _payload("1", "Café"))
        spool.finish()
        (winner,) = spool.winners()
    assert winner.original == {"when": "2024-05-01T10:00:00", "price": "9.99", "name": "Café"}
    assert winner.payload["eventName"] == "Café"


def test_temporary_file_lives_in_the_directory_and_is_removed(tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "sub")
    assert Path(spool.path).parent == tmp_path / "sub"
    assert os.path.exists(spool.path)
    spool.close()
    spool.close()
    assert not os.path.exists(spool.path)


def test_usage_errors(tmp_path: Path) -> None:
    with EventSpool(tmp_path) as spool:
        with pytest.raises(RuntimeError, match="finish"):
            list(spool.winners())
        spool.add(1, 1, ("a", "1"), {}, _payload("1", "x"))
        spool.add(1, 1, ("a", "2"), {}, _payload("2", "x"))
        with pytest.raises(ValueError, match="same position"):
            spool.finish()
    with EventSpool(tmp_path) as spool:
        spool.finish()
        spool.finish()  # idempotent
        with pytest.raises(RuntimeError, match="after finish"):
            spool.add(1, 1, ("a", "1"), {}, {})
