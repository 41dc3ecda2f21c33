"""The sync-state store: digest, round trip, truthfulness, atomic publish under a crash, locks
between processes, corrupt states, keys missing from the source, object storage."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import IO, Literal

import fsspec
import pytest

from hubspot_events_provider.core.sync.digest import canonical_json, payload_digest
from hubspot_events_provider.core.sync.state import SyncState
from hubspot_events_provider.core.sync.storage import (
    LocalStateStorage,
    LockInfo,
    RemoteStateStorage,
    StateCorruptError,
    StateLockedError,
)

PAYLOAD = {
    "externalAccountId": "acme",
    "externalEventId": "ev-1",
    "eventName": "Café",
    "customProperties": [{"name": "region", "value": "emea"}, {"name": "city", "value": "Zürich"}],
}
REPO = Path(__file__).resolve().parents[2]


# -- digest ------------------------------------------------------------------------------------------


def test_digest_is_sha256_of_canonical_json() -> None:
    expected_text = (
        '{"customProperties":[{"name":"city","value":"Zürich"},{"name":"region","value":"emea"}],'
        '"eventName":"Café","externalAccountId":"acme","externalEventId":"ev-1"}'
    )
    assert canonical_json(PAYLOAD) == expected_text
    assert payload_digest(PAYLOAD) == hashlib.sha256(expected_text.encode("utf-8")).hexdigest()


def test_digest_ignores_key_and_custom_property_order_but_not_values() -> None:
    reordered = dict(reversed(list(PAYLOAD.items())))
    reordered["customProperties"] = list(reversed(PAYLOAD["customProperties"]))  # type: ignore[call-overload]
    assert payload_digest(reordered) == payload_digest(PAYLOAD)
    assert payload_digest({**PAYLOAD, "eventName": "Cafe"}) != payload_digest(PAYLOAD)
    assert payload_digest({**PAYLOAD, "eventCancelled": True}) != payload_digest(PAYLOAD)
    with pytest.raises(ValueError):
        payload_digest({"x": float("nan")})


# -- round trip and truth ----------------------------------------------------------------------------


def test_missing_state_means_full_send_and_commit_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "events.state"
    with SyncState(path) as state:
        assert (state.existed, state.rebuilt, len(state)) == (False, False, 0)
        assert not state.is_unchanged(("acme", "ev-1"), payload_digest(PAYLOAD))
        state.record_confirmed(("acme", "ev-1"), payload_digest(PAYLOAD), object_id="510000001")
        state.commit()
    assert path.is_file()
    assert not (tmp_path / "sub" / "events.state.lock").exists()
    with SyncState(path) as state:
        assert state.existed
        assert state.interrupted_run is None
        assert state.is_unchanged(("acme", "ev-1"), payload_digest(PAYLOAD))
        assert not state.is_unchanged(("acme", "ev-1"), payload_digest({**PAYLOAD, "eventName": "x"}))
        entry = state.entry(("acme", "ev-1"))
        assert entry is not None
        assert (entry.outcome, entry.object_id, entry.cancelled, entry.completed) == (
            "confirmed",
            "510000001",
            False,
            False,
        )


def test_failed_and_pending_rows_are_sent_again(tmp_path: Path) -> None:
    path = tmp_path / "s.state"
    digest = payload_digest(PAYLOAD)
    with SyncState(path) as state:
        for event in ("ok", "failed", "pending"):
            state.record_confirmed(("acme", event), digest)
        state.record_failed(("acme", "failed"))
        assert state.mark_pending([("acme", "pending")]) == 1
        state.record_failed(("acme", "never-confirmed"))
        state.commit()
    with SyncState(path) as state:
        assert [state.is_unchanged(("acme", e), digest) for e in ("ok", "failed", "pending")] == [
            True,
            False,
            False,
        ]
        probe = [(("acme", e), digest) for e in ("ok", "failed", "pending", "unknown")]
        probe.append((("acme", "ok"), payload_digest({**PAYLOAD, "eventName": "changed"})))
        assert state.unchanged_flags(probe) == [True, False, False, False, False]
        assert state.unchanged_flags([]) == []
        failed = state.entry(("acme", "failed"))
        assert failed is not None
        assert (failed.outcome, failed.digest) == ("failed", digest)
        never = state.entry(("acme", "never-confirmed"))
        assert never is not None
        assert (never.outcome, never.digest) == ("failed", None)
        # A later confirmation restores the claim.
        state.record_confirmed(("acme", "failed"), digest)
        assert state.is_unchanged(("acme", "failed"), digest)


def test_lifecycle_marks_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "s.state"
    with SyncState(path) as state:
        state.record_confirmed(("acme", "a"), "d1")
        state.record_cancelled(("acme", "a"))
        state.record_completed(("acme", "b"))  # not confirmed by an upsert of ours: stays pending
        state.record_confirmed(("acme", "c"), "d3")
        state.record_deleted(("acme", "c"))
        state.commit()
    with SyncState(path) as state:
        a, b = state.entry(("acme", "a")), state.entry(("acme", "b"))
        assert a is not None
        assert b is not None
        assert (a.cancelled, a.completed, a.outcome) == (True, False, "confirmed")
        assert (b.cancelled, b.completed, b.outcome) == (False, True, "pending")
        assert state.entry(("acme", "c")) is None
        assert list(state.keys()) == [("acme", "a"), ("acme", "b")]


def test_app_id_is_remembered(tmp_path: Path) -> None:
    path = tmp_path / "s.state"
    with SyncState(path) as state:
        assert state.app_id is None
        state.remember_app_id(1234567)
        state.commit()
    with SyncState(path) as state:
        assert state.app_id == 1234567


def test_close_without_commit_publishes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.state"
    with SyncState(path) as state:
        state.record_confirmed(("acme", "kept"), "d")
        state.commit()
    before = path.read_bytes()
    with SyncState(path) as state:
        state.record_confirmed(("acme", "unpublished"), "d")
    assert path.read_bytes() == before
    with SyncState(path) as state:
        assert list(state.keys()) == [("acme", "kept")]


def test_writes_from_many_threads(tmp_path: Path) -> None:
    with SyncState(tmp_path / "s.state") as state:

        def work(n: int) -> None:
            for i in range(5000):
                state.record_confirmed((f"acct-{n}", f"ev-{i}"), f"d{i}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(state) == 20_000
        assert state.is_unchanged(("acct-3", "ev-4999"), "d4999")


# -- crash safety ------------------------------------------------------------------------------------


def _run_child(code: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


CRASH_DURING_PUBLISH = """
    import os, sys
    from pathlib import Path
    from hubspot_events_provider.core.sync.state import SyncState
    from hubspot_events_provider.core.sync.storage import LocalStateStorage

    class Dying(LocalStateStorage):
        def publish(self, local_path):
            side = self.path.with_name(self.path.name + ".tmp-crash")
            data = Path(local_path).read_bytes()
            side.write_bytes(data[: len(data) // 2])
            os._exit(9)  # killed half-way through writing the side file

    state = SyncState(Dying(sys.argv[1]))
    for i in range(5000):
        state.record_confirmed(("acme", f"new-{i}"), "new")
    state.commit()
"""


def test_crash_while_publishing_leaves_the_previous_state(tmp_path: Path) -> None:
    path = tmp_path / "s.state"
    with SyncState(path) as state:
        state.record_confirmed(("acme", "old"), "d-old")
        state.commit()
    before = path.read_bytes()
    child = _run_child(CRASH_DURING_PUBLISH, str(path))
    assert child.wait(timeout=60) == 9, child.stderr.read() if child.stderr else b""
    assert (tmp_path / "s.state.tmp-crash").exists()
    assert path.read_bytes() == before
    # The dead run's lock is stale (same host, process gone): the next run takes over.
    with SyncState(path) as state:
        assert list(state.keys()) == [("acme", "old")]
        assert state.is_unchanged(("acme", "old"), "d-old")
        state.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.state"]  # the orphan side file is gone


KILLED_AFTER_CHECKPOINT = """
    import os, sys
    from hubspot_events_provider.core.sync.state import SyncState

    state = SyncState(sys.argv[1])
    state.mark_pending([("acme", "changed"), ("acme", "new")])
    state.checkpoint()                     # published before sending
    state.record_confirmed(("acme", "changed"), "d-new")   # confirmed, never published
    os.kill(os.getpid(), 9)
"""


def test_run_killed_after_pending_checkpoint_resends_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.state"
    with SyncState(path) as state:
        state.record_confirmed(("acme", "changed"), "d-old")
        state.record_confirmed(("acme", "untouched"), "d-u")
        state.commit()
    child = _run_child(KILLED_AFTER_CHECKPOINT, str(path))
    assert child.wait(timeout=60) == -signal.SIGKILL
    with SyncState(path) as state:
        assert state.interrupted_run is not None
        assert state.interrupted_run.startswith("hubspot-events (since ")
        # HubSpot may hold d-new or d-old for "changed": the state claims neither.
        assert not state.is_unchanged(("acme", "changed"), "d-old")
        assert not state.is_unchanged(("acme", "changed"), "d-new")
        assert not state.is_unchanged(("acme", "new"), "d-new")
        assert state.is_unchanged(("acme", "untouched"), "d-u")


# -- locks -------------------------------------------------------------------------------------------

HOLD_LOCK = """
    import sys, time
    from pathlib import Path
    from hubspot_events_provider.core.sync.state import SyncState

    state = SyncState(sys.argv[1], owner="dag/run-1/task")
    Path(sys.argv[2]).write_text("ready")
    time.sleep(120)
"""


def test_second_process_is_refused_while_the_first_lives(tmp_path: Path) -> None:
    path, ready = tmp_path / "s.state", tmp_path / "ready"
    child = _run_child(HOLD_LOCK, str(path), str(ready))
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert child.poll() is None, child.stderr.read() if child.stderr else b""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(StateLockedError) as caught:
            SyncState(path, lock_timeout_s=0.3)
        message = str(caught.value)
        assert str(path) in message
        assert "'dag/run-1/task'" in message
        assert f"pid {child.pid}" in message
        assert caught.value.holder is not None
        assert caught.value.holder.pid == child.pid
    finally:
        child.kill()
        child.wait(timeout=30)
    # Its holder is dead: the lock is stale and broken by the next run.
    with SyncState(path) as state:
        state.record_confirmed(("acme", "ev"), "d")
        state.commit()
    with SyncState(path) as state:
        assert list(state.keys()) == [("acme", "ev")]


def _write_lock(path: Path, *, host: str, pid: int, age_s: float) -> LockInfo:
    info = LockInfo("other-run", host, pid, "2026-01-01T00:00:00Z", time.time() - age_s, "tok")
    path.with_name(path.name + ".lock").write_bytes(info.to_bytes())
    return info


def test_lock_of_another_host_is_respected_until_stale(tmp_path: Path) -> None:
    path = tmp_path / "s.state"
    _write_lock(path, host="worker-7.example", pid=1, age_s=60)
    with pytest.raises(StateLockedError, match=r"worker-7\.example"):
        SyncState(path)
    with SyncState(path, stale_after_s=30) as state:  # not refreshed for 60 s > 30 s: abandoned
        state.commit()
    assert not path.with_name("s.state.lock").exists()


def test_losing_the_lock_refuses_to_publish(tmp_path: Path) -> None:
    path = tmp_path / "s.state"
    with SyncState(path) as state:
        state.record_confirmed(("acme", "a"), "d")
        _write_lock(path, host="worker-7.example", pid=1, age_s=0)  # another run broke in
        with pytest.raises(StateLockedError, match="no longer ours"):
            state.checkpoint()
    assert not path.exists()
    assert LocalStateStorage(path).read_lock() is not None  # the other run's lock is left alone


def test_two_states_in_one_process_share_nothing(tmp_path: Path) -> None:
    with (
        SyncState(tmp_path / "a.state"),
        SyncState(tmp_path / "b.state"),
        pytest.raises(StateLockedError),
    ):
        SyncState(tmp_path / "a.state")


# -- corrupt states ----------------------------------------------------------------------------------


def _foreign_sqlite(path: Path) -> None:
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()


@pytest.mark.parametrize(
    "spoil",
    [
        lambda p: p.write_bytes(b"this is not a database at all" * 100),
        lambda p: p.write_bytes(b""),
        _foreign_sqlite,
        lambda p: p.write_bytes(p.read_bytes()[:1024]),  # truncated
    ],
    ids=["garbage", "empty", "other-sqlite", "truncated"],
)
def test_corrupt_state_fails_clearly_unless_full_refresh(tmp_path: Path, spoil: object) -> None:
    path = tmp_path / "s.state"
    with SyncState(path) as state:
        for i in range(3000):
            state.record_confirmed(("acme", f"ev-{i}"), "d")
        state.commit()
    assert callable(spoil)
    spoil(path)
    with pytest.raises(StateCorruptError) as caught:
        SyncState(path)
    assert str(path) in str(caught.value)
    assert "full_refresh=True" in str(caught.value)
    assert not path.with_name("s.state.lock").exists()  # the failed open released its lock
    with SyncState(path, full_refresh=True) as state:
        assert (state.existed, state.rebuilt, len(state)) == (True, True, 0)
        state.record_confirmed(("acme", "fresh"), "d")
        state.commit()
    with SyncState(path) as state:
        assert list(state.keys()) == [("acme", "fresh")]


# -- keys that left the source -----------------------------------------------------------------------


def test_missing_keys_are_limited_to_the_run_accounts(tmp_path: Path) -> None:
    with SyncState(tmp_path / "s.state") as state:
        for account in ("a", "b"):
            for i in range(5):
                state.record_confirmed((account, f"ev-{i}"), "d")
        seen = [("a", "ev-0"), ("a", "ev-2"), ("a", "ev-new")]
        missing = state.missing_keys(iter(seen))
        assert list(missing) == [("a", "ev-1"), ("a", "ev-3"), ("a", "ev-4")]
        assert (missing.count, missing.known, missing.source_keys, missing.accounts) == (3, 5, 3, 1)
        both = state.missing_keys(seen, accounts=["a", "b"])
        assert (both.count, both.known) == (8, 10)
        assert list(both)[-1] == ("b", "ev-4")
        empty = state.missing_keys([])
        assert (empty.count, empty.known, empty.source_keys, list(empty)) == (0, 0, 0, [])


def test_missing_keys_can_be_acted_on_while_iterating(tmp_path: Path) -> None:
    with SyncState(tmp_path / "s.state") as state:
        for i in range(5000):
            state.record_confirmed(("a", f"ev-{i:05d}"), "d")
        missing = state.missing_keys([("a", "ev-00000")])
        deleted = 0
        for key in missing:
            state.record_deleted(key)
            deleted += 1
        assert deleted == 4999
        assert list(state.keys()) == [("a", "ev-00000")]


# -- object storage ----------------------------------------------------------------------------------


class FsspecFiles:
    """What the Airflow adapter provides: the four operations over an fsspec filesystem."""

    def __init__(self, fs: fsspec.AbstractFileSystem) -> None:
        self.fs = fs
        self.moves: list[tuple[str, str]] = []

    def open(self, location: str, mode: Literal["rb", "wb"]) -> IO[bytes]:
        handle: IO[bytes] = self.fs.open(location, mode)
        return handle

    def exists(self, location: str) -> bool:
        return bool(self.fs.exists(location))

    def move(self, source: str, target: str) -> None:
        self.moves.append((source, target))
        self.fs.mv(source, target)

    def remove(self, location: str) -> None:
        if self.fs.exists(location):
            self.fs.rm(location)


def test_object_storage_round_trip_lock_and_corruption() -> None:
    fs = fsspec.filesystem("memory")
    files = FsspecFiles(fs)
    uri = f"/bucket-{os.getpid()}-{time.time_ns()}/sync/events.state"
    storage = RemoteStateStorage(files, uri)
    with SyncState(storage, owner="dag/run/task") as state:
        assert not state.existed
        assert json.loads(fs.cat(uri + ".lock"))["owner"] == "dag/run/task"
        with pytest.raises(StateLockedError, match="dag/run/task"):
            SyncState(RemoteStateStorage(files, uri))
        state.record_confirmed(("acme", "ev-1"), "d1")
        state.commit()
    assert not fs.exists(uri + ".lock")
    assert len(files.moves) == 1
    assert files.moves[0][0].startswith(uri + ".tmp-")
    assert files.moves[0][1] == uri
    assert [p for p in fs.ls(uri.rsplit("/", 1)[0], detail=False) if ".tmp-" in p] == []
    with SyncState(RemoteStateStorage(files, uri)) as state:
        assert state.is_unchanged(("acme", "ev-1"), "d1")
    fs.pipe(uri, b"garbage" * 100)
    with pytest.raises(StateCorruptError, match=r"events\.state"):
        SyncState(RemoteStateStorage(files, uri))
    assert not fs.exists(uri + ".lock")


# -- scale -------------------------------------------------------------------------------------------

MILLION = """
    import json, resource, sys
    from hubspot_events_provider.core.sync.state import SyncState

    def rss_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    n = 1_000_000
    keys = lambda: ((f"acct-{i % 5}", f"ev-{i:07d}") for i in range(n))
    baseline = rss_mb()
    with SyncState(sys.argv[1]) as state:
        for key in keys():
            state.record_confirmed(key, "d")
        state.commit()
    with SyncState(sys.argv[1]) as state:
        missing = state.missing_keys(k for i, k in enumerate(keys()) if i % 1000)
        first = next(iter(missing))
        count = sum(1 for _ in missing)
        total = len(state)
    print(json.dumps({"growth_mb": rss_mb() - baseline, "missing": count, "known": missing.known,
                      "first": first, "total": total}))
"""


@pytest.mark.slow
def test_a_million_keys_stay_on_disk(tmp_path: Path) -> None:
    child = _run_child(MILLION, str(tmp_path / "big.state"))
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err
    result = json.loads(out)
    assert result["total"] == 1_000_000
    assert (result["missing"], result["known"]) == (1000, 1_000_000)
    assert result["first"] == ["acct-0", "ev-0000000"]
    # Flat: the state costs SQLite's page cache, not a Python structure per key (which would be
    # several hundred MB for 1M keys).
    assert result["growth_mb"] < 64, result
