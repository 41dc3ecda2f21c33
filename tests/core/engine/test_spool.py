"""RowSpool: SQLite de-duplication by any key, last row wins, superseded listing, groups and phases,
clean-up."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hubspot_events_provider.core.engine.spool import RowSpool, SupersededRow
from hubspot_events_provider.core.rows.identity import RowRef, WriteItem


def _payload(eid: str, name: str) -> dict[str, str]:
    return {"externalAccountId": "acme", "externalEventId": eid, "eventName": name, "eventOrganizer": "o"}


def _ref(position: int, line: int | None, original: Any, source: str = "events") -> RowRef:
    return RowRef(position, line, original, source)


def test_last_row_wins_and_others_are_listed(tmp_path: Path) -> None:
    rows = [
        (1, 2, ("acme", "e1"), "first e1"),
        (2, 3, ("acme", "e2"), "only e2"),
        (3, 4, ("acme", "e1"), "second e1"),
        (4, 5, ("other", "e1"), "e1 of another account"),
        (5, 6, ("acme", "e1"), "third e1"),
    ]
    with RowSpool(tmp_path) as spool:
        for position, line, key, name in rows:
            spool.add(_ref(position, line, {"id": key[1], "name": name}), key, _payload(key[1], name))
        spool.finish()
        assert spool.total_count == 5
        assert spool.winner_count == 3
        assert spool.superseded_count == 2
        winners = list(spool.winners())
        superseded = list(spool.superseded())
    assert [w.ref.position for w in winners] == [2, 4, 5]
    assert winners[2] == WriteItem(
        _ref(5, 6, {"id": "e1", "name": "third e1"}), ("acme", "e1"), _payload("e1", "third e1")
    )
    assert superseded == [
        SupersededRow(_ref(1, 2, {"id": "e1", "name": "first e1"}), ("acme", "e1"), 5),
        SupersededRow(_ref(3, 4, {"id": "e1", "name": "second e1"}), ("acme", "e1"), 5),
    ]


def test_keys_of_any_width_never_collide(tmp_path: Path) -> None:
    # Parts holding separators or quotes must not make two different keys equal.
    keys = [("a|b", "c"), ("a", "b|c"), ('a"', "b"), ("a", '"b'), ("a", "b", "c"), ("a\x1fb", "c")]
    with RowSpool(tmp_path) as spool:
        for position, key in enumerate(keys, start=1):
            spool.add(_ref(position, None, {}), key, {"k": list(key)})
        spool.finish()
        assert [w.key for w in spool.winners()] == keys
        assert spool.superseded_count == 0


def test_rows_come_out_by_phase_then_group_then_input_order(tmp_path: Path) -> None:
    rows = [
        (1, ("w1", "bob", "attend"), ("w1", "attend"), 1),
        (2, ("w1", "ann", "register"), ("w1", "register"), 0),
        (3, ("w2", "ann", "register"), ("w2", "register"), 0),
        (4, ("w1", "bob", "register"), ("w1", "register"), 0),
        (5, ("w1", "ann", "attend"), ("w1", "attend"), 1),
        (6, ("w1", "ann", "register"), ("w1", "register"), 0),  # replaces row 2
    ]
    with RowSpool(tmp_path) as spool:
        for position, key, group, phase in rows:
            spool.add(
                _ref(position, position + 1, {"p": position}), key, {"p": position}, group=group, phase=phase
            )
        spool.finish()
        got = [(w.ref.position, w.group, w.phase) for w in spool.winners()]
        assert spool.batch_count(100) == 3
        assert spool.batch_count(1) == 5
        assert [(s.ref.position, s.replaced_by) for s in spool.superseded()] == [(2, 6)]
    assert got == [
        (4, ("w1", "register"), 0),
        (6, ("w1", "register"), 0),
        (3, ("w2", "register"), 0),
        (1, ("w1", "attend"), 1),
        (5, ("w1", "attend"), 1),
    ]


def test_each_row_keeps_its_source_name(tmp_path: Path) -> None:
    with RowSpool(tmp_path) as spool:
        spool.add(_ref(1, 1, {}, "events_file 'a.jsonl'"), ("a", "1"), {})
        spool.add(_ref(2, 1, {}, "events"), ("a", "1"), {})
        spool.add(_ref(3, 2, {}, "events_file 'a.jsonl'"), ("a", "2"), {})
        spool.finish()
        assert [w.ref.source for w in spool.winners()] == ["events", "events_file 'a.jsonl'"]
        assert [s.ref.source for s in spool.superseded()] == ["events_file 'a.jsonl'"]


def test_many_rows_in_chunks(tmp_path: Path) -> None:
    n = 5000
    with RowSpool(tmp_path) as spool:
        for position in range(1, n + 1):
            eid = f"e{position % 1000}"
            spool.add(_ref(position, None, {"p": position}), ("acme", eid), _payload(eid, str(position)))
        spool.finish()
        winners = list(spool.winners())
        superseded = list(spool.superseded())
    assert len(winners) == 1000
    assert [w.ref.position for w in winners] == list(range(n - 999, n + 1))
    assert len(superseded) == n - 1000
    assert all(s.replaced_by > s.ref.position for s in superseded)
    assert all((s.replaced_by - s.ref.position) % 1000 == 0 for s in superseded)
    assert {w.payload["eventName"] for w in winners} == {str(p) for p in range(n - 999, n + 1)}


def test_no_duplicates_no_superseded(tmp_path: Path) -> None:
    with RowSpool(tmp_path) as spool:
        spool.add(_ref(1, 1, {}), ("a", "1"), _payload("1", "x"))
        spool.finish()
        assert list(spool.superseded()) == []
        assert spool.superseded_count == 0


def test_empty_spool(tmp_path: Path) -> None:
    with RowSpool(tmp_path) as spool:
        spool.finish()
        assert spool.winner_count == 0
        assert spool.batch_count(100) == 0
        assert list(spool.winners()) == []


def test_original_rows_from_cursors_are_kept_json_safe(tmp_path: Path) -> None:
    original = {"when": dt.datetime(2024, 5, 1, 10, 0), "price": Decimal("9.99"), "name": "Café"}
    with RowSpool(tmp_path) as spool:
        spool.add(_ref(1, None, original), ("a", "1"), _payload("1", "Café"))
        spool.finish()
        (winner,) = spool.winners()
    assert winner.ref.original == {"when": "2024-05-01T10:00:00", "price": "9.99", "name": "Café"}
    assert winner.payload["eventName"] == "Café"


def test_temporary_file_lives_in_the_directory_and_is_removed(tmp_path: Path) -> None:
    spool = RowSpool(tmp_path / "sub")
    assert Path(spool.path).parent == tmp_path / "sub"
    assert os.path.exists(spool.path)
    spool.close()
    spool.close()
    assert not os.path.exists(spool.path)


def test_usage_errors(tmp_path: Path) -> None:
    with RowSpool(tmp_path) as spool:
        with pytest.raises(RuntimeError, match="finish"):
            list(spool.winners())
        spool.add(_ref(1, 1, {}), ("a", "1"), _payload("1", "x"))
        spool.add(_ref(1, 1, {}), ("a", "2"), _payload("2", "x"))
        with pytest.raises(ValueError, match="same position"):
            spool.finish()
    with RowSpool(tmp_path) as spool:
        spool.finish()
        spool.finish()  # idempotent
        with pytest.raises(RuntimeError, match="after finish"):
            spool.add(_ref(1, 1, {}), ("a", "1"), {})


def test_unsent_winners_leave_out_the_rows_marked_sent(tmp_path: Path) -> None:
    with RowSpool(tmp_path) as spool:
        for position in range(1, 2501):
            key = ("acme", f"e{position % 2000}")  # rows 2001-2500 repeat the keys of rows 1-500
            spool.add(_ref(position, None, {"n": position}), key, _payload(key[1], str(position)))
            if position <= 1500 and position % 100 == 0:
                spool.mark_sent(range(position - 99, position + 1))  # 15 batches sent while reading
        spool.finish()
        assert spool.sent_count == 1500
        unsent = [item.ref.position for item in spool.unsent_winners()]
        # rows 1-500 were sent and then superseded: not winners; 501-1500 sent; the rest are left
        assert unsent == list(range(1501, 2501))
        assert [i.ref.position for i in spool.winners()] == list(range(501, 2501))
        with pytest.raises(RuntimeError, match="after finish"):
            spool.mark_sent([1])
