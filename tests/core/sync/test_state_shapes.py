"""The sync state keyed by other shapes than the event: participations (four parts), a state file
written before shapes existed still reads as an events state, and a state of one shape is never
opened (nor rebuilt) as another."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hubspot_events_provider.core.sync.digest import payload_digest
from hubspot_events_provider.core.sync.state import (
    EVENTS,
    PARTICIPATIONS,
    StateCorruptError,
    StateError,
    StateKindError,
    SyncState,
)

ANN = ("acme", "evt-1", "email:ann@example.com", "attend")
BO = ("acme", "evt-1", "vid:151", "register")
CY = ("acme", "evt-2", "email:cy@example.com", "register")


def participations(path: Path, **kwargs: object) -> SyncState:
    return SyncState(path, shape=PARTICIPATIONS, **kwargs)  # type: ignore[arg-type]


def write_pre_shape_state(path: Path) -> None:
    """An events state exactly as the release before key shapes wrote it (no ``keys`` meta)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE events (account TEXT NOT NULL, event TEXT NOT NULL, digest TEXT, "
        "outcome TEXT NOT NULL, cancelled INTEGER NOT NULL DEFAULT 0, completed INTEGER NOT NULL DEFAULT 0, "
        "object_id TEXT, updated_at REAL NOT NULL, PRIMARY KEY (account, event)) WITHOUT ROWID"
    )
    db.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [("format", "hubspot-events-sync-state"), ("version", "1"), ("generation", "3"), ("app_id", "42")],
    )
    db.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ("acme", "evt-1", payload_digest({"a": 1}), "confirmed", 0, 1, "901", 1.0),
            ("acme", "evt-2", None, "failed", 1, 0, None, 1.0),
        ],
    )
    db.commit()
    db.close()


def test_a_state_written_before_shapes_reads_as_the_events_state(tmp_path: Path) -> None:
    path = tmp_path / "old.state"
    write_pre_shape_state(path)
    state = SyncState(path)
    assert state.existed
    assert not state.rebuilt
    assert state.shape == EVENTS
    assert len(state) == 2
    assert state.app_id == 42
    assert state.is_unchanged(("acme", "evt-1"), payload_digest({"a": 1}))
    assert not state.is_unchanged(("acme", "evt-2"), payload_digest({"a": 1}))
    entry = state.entry(("acme", "evt-1"))
    assert entry is not None
    assert (entry.completed, entry.object_id) == (True, "901")
    state.record_confirmed(("acme", "evt-3"), payload_digest({"b": 2}))
    state.commit()
    with SyncState(path) as again:  # published by this version, it still reads
        assert list(again.keys()) == [("acme", "evt-1"), ("acme", "evt-2"), ("acme", "evt-3")]
    # ...and an attendance task given it is refused, not treated as corrupt and rebuilt
    with pytest.raises(StateKindError, match="holds events, not participations"):
        participations(path, full_refresh=True)
    with SyncState(path) as again:
        assert len(again) == 3


def test_participations_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "attendance.state"
    digest = payload_digest({"subscriberState": "attend", "interactionDateTime": 1})
    state = participations(path)
    assert not state.existed
    state.record_confirmed(ANN, digest, "151")
    state.record_confirmed(BO, digest)
    state.record_failed(CY)
    state.commit()

    state = participations(path)
    assert state.existed
    assert len(state) == 3
    assert state.unchanged_flags([(ANN, digest), (BO, "other"), (CY, digest)]) == [True, False, False]
    assert state.is_unchanged(ANN, digest)
    # the same contact in another state is another participation
    assert not state.is_unchanged((*ANN[:3], "register"), digest)
    entry = state.entry(ANN)
    assert entry is not None
    assert (entry.outcome, entry.object_id) == ("confirmed", "151")
    assert list(state.keys()) == sorted([ANN, BO, CY])
    assert list(state.keys(accounts=["other"])) == []
    state.mark_pending([ANN])
    state.record_deleted(BO)
    assert not state.is_unchanged(ANN, digest)
    assert state.entry(BO) is None
    state.close()  # not published: the last commit stays
    with participations(path) as again:
        assert again.is_unchanged(ANN, digest)
        assert again.entry(BO) is not None


def test_keys_are_paged_in_order_across_pages(tmp_path: Path) -> None:
    state = participations(tmp_path / "many.state")
    keys = [("acme", f"evt-{i % 7}", f"vid:{i}", "register") for i in range(4500)]
    for key in keys:
        state.record_confirmed(key, "d")
    assert list(state.keys()) == sorted(keys)
    state.close()


def test_a_participation_state_is_not_an_events_state(tmp_path: Path) -> None:
    path = tmp_path / "attendance.state"
    state = participations(path)
    state.record_confirmed(ANN, "d")
    with pytest.raises(StateError, match="events only"):
        state.record_cancelled(("acme", "evt-1"))
    with pytest.raises(StateError, match="events only"):
        state.missing_keys([])
    with pytest.raises(ValueError, match="account, event, contact, state"):
        state.record_confirmed(("acme", "evt-1"), "d")
    state.commit()
    for full_refresh in (False, True):
        with pytest.raises(StateKindError, match="holds participations, not events"):
            SyncState(path, full_refresh=full_refresh)
    with participations(path) as again:  # untouched, and not locked by the refused opens
        assert again.is_unchanged(ANN, "d")


def test_a_corrupt_participation_state_fails_unless_full_refresh(tmp_path: Path) -> None:
    path = tmp_path / "attendance.state"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StateCorruptError, match=str(path)):
        participations(path)
    state = participations(path, full_refresh=True)
    assert state.rebuilt
    assert len(state) == 0
    state.record_confirmed(ANN, "d")
    state.commit()
    with participations(path) as again:
        assert again.is_unchanged(ANN, "d")


def test_delete_marks_pending_only_what_the_state_knows(tmp_path: Path) -> None:
    state = SyncState(tmp_path / "events.state")
    state.record_confirmed(("acme", "evt-1"), "d")
    assert state.mark_pending([("acme", "evt-1"), ("acme", "evt-9")], known_only=True) == 2
    entry = state.entry(("acme", "evt-1"))
    assert entry is not None
    assert (entry.outcome, entry.digest) == ("pending", "d")
    assert state.entry(("acme", "evt-9")) is None
    assert len(state) == 1
    state.close()
