"""Sync state: what HubSpot last confirmed, per event, so a rerun sends only what changed.

A :class:`SyncState` holds, per ``(externalAccountId, externalEventId)``, the digest of the
normalised payload HubSpot last confirmed (:func:`~.digest.payload_digest`), the last outcome, and the
lifecycle marks (cancelled, completed) so ``/cancel`` and ``/complete`` are called once, not on
every rerun. A row is *unchanged* only when its digest equals the confirmed one and its last outcome
is ``confirmed``: a row that failed (or whose outcome is unknown, ``pending``) is sent again.

The state is a SQLite file (its schema and queries: :mod:`.statedb`): downloaded from its location
(:mod:`.storage`) into a private working file, updated there, and published back atomically by
:meth:`SyncState.checkpoint` and :meth:`SyncState.commit`. Lookups are indexed on disk and writes
are buffered in small chunks, so memory stays flat at 1M keys.

The published state only claims what HubSpot confirmed. Before a run sends rows it calls
:meth:`SyncState.mark_pending` for them and :meth:`SyncState.checkpoint` once: a run killed after
that leaves a state whose rows are confirmed (true) or pending (sent again next time). A run killed
before leaves the previous state, which is still true for every row it did not send.

:meth:`SyncState.missing_keys` lists the known events of the run's accounts that left the source
(:mod:`.missing`); :func:`~.guardrails.decide_missing` applies the guardrails and says why, with the
counts.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hubspot_events_provider.core.engine.options import Logger
from hubspot_events_provider.core.engine.report import ClosesOnExit
from hubspot_events_provider.core.sync.missing import MissingKeys, find_missing, missing_page
from hubspot_events_provider.core.sync.statedb import (
    EVENTS,
    PAGE,
    PARTICIPATIONS,
    EventKey,
    KeyShape,
    StateEntry,
    StateKey,
    StateKindError,
    key_page,
    open_db,
    stored_shape,
    unchanged_hits,
    write_records,
)
from hubspot_events_provider.core.sync.storage import (
    DEFAULT_STALE_AFTER_S,
    LocalStateStorage,
    LockInfo,
    StateCorruptError,
    StateError,
    StateLockedError,
    StateStorage,
)

__all__ = [
    "EVENTS",
    "PARTICIPATIONS",
    "KeyShape",
    "StateCorruptError",
    "StateEntry",
    "StateError",
    "StateKindError",
    "StateLockedError",
    "SyncState",
]

# -- the store ---------------------------------------------------------------------------------------


class SyncState(ClosesOnExit):
    """The sync state of one location, locked for this run.

    :param storage: where it lives; a path (``str``/``PathLike``) means :class:`LocalStateStorage`.
    :param full_refresh: ignore (and rewrite) an existing state, even a corrupt one.
    :param owner: names this run in the lock (e.g. ``dag_id/run_id/task_id``).
    :param stale_after_s: a lock not refreshed for this long is abandoned and may be broken.
    :param lock_timeout_s: wait this long for a held lock before failing (0: fail at once).
    :param work_dir: directory of the private working copy (default: the system temp directory).
    :param shape: what the rows are keyed by: ``EVENTS`` (the upsert's and the delete's) or
        ``PARTICIPATIONS`` (the attendance's), of
        :mod:`~hubspot_events_provider.core.sync.statedb`; the cancel/complete marks, ``app_id``
        and :meth:`missing_keys` are the events' only.
    :raises StateLockedError: another live run holds the lock.
    :raises ~hubspot_events_provider.core.sync.statedb.StateKindError: the state holds rows of
        another shape (even with ``full_refresh``).
    :raises StateCorruptError: the state exists but is unreadable, unless ``full_refresh``.
    """

    def __init__(
        self,
        storage: StateStorage | str | os.PathLike[str],
        *,
        full_refresh: bool = False,
        owner: str = "hubspot-events",
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        lock_timeout_s: float = 0.0,
        work_dir: str | os.PathLike[str] | None = None,
        shape: KeyShape = EVENTS,
    ) -> None:
        self.storage: StateStorage = (
            LocalStateStorage(storage) if isinstance(storage, str | os.PathLike) else storage
        )
        self.location = self.storage.location
        self.full_refresh = full_refresh
        self.shape = shape
        self._mutex = threading.RLock()
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._closed = True
        self._db_conn: sqlite3.Connection | None = None
        self._work: Path | None = None
        self.existed = False
        self.rebuilt = False
        self._lock = self._take_lock(LockInfo.new(owner), stale_after_s, lock_timeout_s)
        self._closed = False
        try:
            fd, name = tempfile.mkstemp(prefix="hubspot-state-", suffix=".sqlite3", dir=work_dir)
            os.close(fd)
            self._work = Path(name)
            self.existed = self.storage.download(self._work)
            self.rebuilt = self.existed and full_refresh
            if self.rebuilt:
                stored_shape(self._work, shape, self.location)  # never rebuild another kind's state
            self._db_conn = open_db(
                self._work, fresh=not self.existed or full_refresh, location=self.location, shape=shape
            )
            row = self._db_conn.execute("SELECT value FROM meta WHERE name = 'unfinished_run'").fetchone()
            #: The run that published a checkpoint and never committed (it died), if any.
            self.interrupted_run: str | None = row[0] if row and row[0] else None
        except BaseException:
            self.close()
            raise

    def _take_lock(self, info: LockInfo, stale_after_s: float, timeout_s: float) -> LockInfo:
        deadline = time.monotonic() + timeout_s
        while True:
            holder = self.storage.acquire_lock(info, stale_after_s)
            if holder is None:
                return info
            if time.monotonic() >= deadline:
                raise StateLockedError(
                    f"sync state {self.location} is in use by {holder.describe()}; two runs must not "
                    "share one state at once (wait for it, or remove a lock left by a dead run).",
                    holder,
                )
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    @property
    def _db(self) -> sqlite3.Connection:
        if self._db_conn is None:
            raise StateError(f"sync state {self.location} is closed")
        return self._db_conn

    # -- reading -------------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._mutex:
            self._flush()
            (count,) = self._db.execute(f"SELECT COUNT(*) FROM {self.shape.table}").fetchone()
            return int(count)

    def entry(self, key: StateKey) -> StateEntry | None:
        """What the state knows of one row (an event, a participation), or ``None``.

        :param key: ``(externalAccountId, externalEventId)``, or the shape's key.
        """
        with self._mutex:
            self._flush()
            row = self._db.execute(
                "SELECT digest, outcome, cancelled, completed, object_id FROM "
                f"{self.shape.table} WHERE {self.shape.where}",
                self._key(key),
            ).fetchone()
        if row is None:
            return None
        return StateEntry(row[0], row[1], bool(row[2]), bool(row[3]), row[4])

    def confirmed_at(self, key: StateKey) -> float | None:
        """When (``time.time()``) HubSpot last confirmed this row, or ``None`` if it is not
        confirmed: a reconcile takes an older HubSpot copy for HubSpot's read lag, not for drift.

        :param key: ``(externalAccountId, externalEventId)``, or the shape's key.
        """
        with self._mutex:
            self._flush()
            row = self._db.execute(
                f"SELECT updated_at FROM {self.shape.table} "
                f"WHERE {self.shape.where} AND outcome = 'confirmed'",
                self._key(key),
            ).fetchone()
        return None if row is None else float(row[0])

    def is_unchanged(self, key: StateKey, digest: str) -> bool:
        """Whether HubSpot confirmed exactly this payload last time (then the row need not be sent).

        :param key: ``(externalAccountId, externalEventId)``, or the shape's key.
        :param digest: :func:`payload_digest` of the row's payload now.
        """
        with self._mutex:
            self._flush()
            row = self._db.execute(
                f"SELECT 1 FROM {self.shape.table} WHERE {self.shape.where} AND digest = ? "
                "AND outcome = 'confirmed'",
                (*self._key(key), digest),
            ).fetchone()
        return row is not None

    def unchanged_flags(self, items: Sequence[tuple[StateKey, str]]) -> list[bool]:
        """:meth:`is_unchanged` for a chunk of rows in one query (several times faster per row).

        :param items: ``(key, digest)`` pairs, e.g. one batch of the spool.
        :returns: one flag per item, in order.
        """
        flags = [False] * len(items)
        if not items:
            return flags
        with self._mutex:
            self._flush()
            hits = unchanged_hits(self._db, [(self._key(k), d) for k, d in items], self.shape)
        for i in hits:
            flags[i] = True
        return flags

    @property
    def app_id(self) -> int | None:
        """The HubSpot appId that created the known events, once :meth:`remember_app_id` stored it
        (saves ``delete_events`` its ``/events/search`` lookup)."""
        with self._mutex:
            row = self._db.execute("SELECT value FROM meta WHERE name = 'app_id'").fetchone()
        return None if row is None else int(row[0])

    def remember_app_id(self, app_id: int) -> None:
        """Store the appId HubSpot reported for this app's events (published with the state).

        :param app_id: from ``GET /events/search`` (see
            :func:`~hubspot_events_provider.core.kinds.events.api.find_app_id`).
        """
        self._require_events("app_id")
        with self._mutex:
            self._require_open()
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('app_id', ?)", (str(int(app_id)),))

    def keys(self, accounts: Iterable[str] | None = None) -> Iterator[StateKey]:
        """Every known key (of ``accounts`` only, when given), in key order, read in pages.

        :param accounts: externalAccountIds to restrict to.
        """
        wanted = None if accounts is None else set(accounts)
        last: StateKey | None = None
        while True:
            with self._mutex:
                self._flush()
                rows = key_page(self._db, last, self.shape)
            if not rows:
                return
            last = rows[-1]
            yield from (key for key in rows if wanted is None or key[0] in wanted)

    # -- recording (only what HubSpot confirmed, or a withdrawn claim) --------------------------------

    def record_confirmed(self, key: StateKey, digest: str, object_id: str | None = None) -> None:
        """HubSpot confirmed this payload (its digest) for this row.

        :param key: ``(externalAccountId, externalEventId)``, or the shape's key.
        :param digest: :func:`payload_digest` of the payload HubSpot accepted.
        :param object_id: HubSpot's objectId (a participation: the contact's id), if known.
        """
        self._add("confirmed", (*self._key(key), digest, object_id, time.time()))

    def record_failed(self, key: StateKey) -> None:
        """Sending this row failed (or its outcome is unknown): send it again next run.

        :param key: ``(externalAccountId, externalEventId)``, or the shape's key.
        """
        self._add("failed", (*self._key(key), None, None, time.time()))

    def mark_pending(self, keys: Iterable[StateKey], *, known_only: bool = False) -> int:
        """Withdraw the claim of rows about to be sent; publish with :meth:`checkpoint` before sending.

        :param keys: the keys to be sent.
        :param known_only: mark only keys the state knows (a delete must not make an event it
            never knew "known", nor a candidate of ``on_missing``).
        :returns: how many were given.
        """
        count = 0
        now = time.time()
        for key in keys:
            if known_only:
                self._add("pending_known", (*self._key(key), now))
            else:
                self._add("pending", (*self._key(key), None, None, now))
            count += 1
        return count

    def record_cancelled(self, key: EventKey) -> None:
        """HubSpot confirmed a cancel (``/cancel`` or ``eventCancelled`` upsert) of this event."""
        self._require_events("cancel marks")
        self._add("cancelled", (key[0], key[1], time.time()))

    def record_completed(self, key: EventKey) -> None:
        """HubSpot confirmed ``/complete`` of this event (do not call it again on reruns)."""
        self._require_events("complete marks")
        self._add("completed", (key[0], key[1], time.time()))

    def record_deleted(self, key: StateKey) -> None:
        """HubSpot confirmed the row is gone (deleted now, or already gone): forget it."""
        self._add("deleted", self._key(key))

    def _key(self, key: StateKey) -> StateKey:
        if len(key) != len(self.shape.columns):
            raise ValueError(
                f"sync state {self.location} keys its rows by ({self.shape.names}), not by {key!r}"
            )
        return tuple(key)

    def _require_events(self, what: str) -> None:
        if self.shape != EVENTS:
            raise StateError(f"sync state {self.location}: {what} exist for events only")

    def _add(self, kind: str, params: tuple[Any, ...]) -> None:
        with self._mutex:
            self._require_open()
            self._pending.append((kind, params))
            if len(self._pending) >= PAGE:
                self._flush()

    def _flush(self) -> None:
        """Write buffered records in one transaction, grouping consecutive records of one kind."""
        if not self._pending:
            return
        ops, self._pending = self._pending, []
        write_records(self._db, ops, self.shape)

    # -- keys that left the source -------------------------------------------------------------------

    def missing_keys(
        self,
        seen: Iterable[EventKey],
        accounts: Iterable[str] | None = None,
        *,
        exclude_cancelled: bool = False,
    ) -> MissingKeys:
        """Known events of the run's accounts that are not among ``seen`` (the source's keys).

        Restricted to ``accounts`` (default: the accounts present in ``seen``), so events of other
        accounts are never candidates; an empty source gives no candidates. ``seen`` is streamed to
        a temporary on-disk table.

        :param seen: every key of the source this run (valid rows).
        :param accounts: the run's externalAccountIds; ``None`` derives them from ``seen``.
        :param exclude_cancelled: leave out events already cancelled (``on_missing="cancel"`` must
            not cancel them again, nor count them against the guardrails run after run).
        """
        self._require_events("missing keys")
        with self._mutex:
            self._flush()
            counts = find_missing(self._db, seen, accounts, exclude_cancelled=exclude_cancelled)
        return MissingKeys(self._iter_missing, counts)

    def _iter_missing(self) -> Iterator[EventKey]:
        last = 0
        while True:
            with self._mutex:
                rows = missing_page(self._db, last)
            if not rows:
                return
            last = rows[-1][0]
            yield from ((account, event) for _rowid, account, event in rows)

    # -- saving and lifetime -------------------------------------------------------------------------

    def checkpoint(self) -> None:
        """Publish the state as it is now, atomically, and refresh the lock.

        A checkpoint (not a :meth:`commit`) also records this run as unfinished: if the run dies, the
        next run sees it in :attr:`interrupted_run`.

        :raises StateLockedError: the lock is no longer ours (it went stale and another run took it).
        """
        self._publish(final=False)

    def _publish(self, *, final: bool) -> None:
        with self._mutex:
            self._require_open()
            self._flush()
            db = self._db
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'generation'")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('saved_at', ?)", (f"{time.time():.3f}",))
            unfinished = "" if final else f"{self._lock.owner} (since {self._lock.acquired_at})"
            db.execute("INSERT OR REPLACE INTO meta VALUES ('unfinished_run', ?)", (unfinished,))
            self.storage.refresh_lock(self._lock)
            assert self._work is not None  # open: _require_open() passed
            self.storage.publish(self._work)

    def commit(self) -> None:
        """Publish (:meth:`checkpoint`) as a finished run and close, releasing the lock."""
        self._publish(final=True)
        self.close()

    def close_after_failure(self, *, sent: bool, log: Logger) -> None:
        """After a failed run: publish what HubSpot confirmed when anything was sent (rows sent and
        unanswered stay pending), then release the state. A state that cannot be saved keeps its
        last checkpoint, said in one error line.

        :param sent: the run sent something (its pending marks were published).
        :param log: where the error line goes.
        """
        try:
            if sent:
                self.checkpoint()
        except (StateError, OSError) as exc:
            log.error("Could not save the sync state after the failure (%s); the last checkpoint stays.", exc)
        finally:
            self.close()

    def close(self) -> None:
        """Release the lock and delete the working copy, without publishing (idempotent).

        Whatever was recorded since the last :meth:`checkpoint` is dropped: the published state is
        the last checkpoint, which is still true.
        """
        with self._mutex:
            if self._db_conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db_conn.close()
                self._db_conn = None
            self._pending.clear()
            if self._work is not None:
                with contextlib.suppress(FileNotFoundError):
                    self._work.unlink()
                self._work = None
            if not self._closed:
                self._closed = True
                self.storage.release_lock(self._lock)

    def _require_open(self) -> None:
        if self._closed:
            raise StateError(f"sync state {self.location} is closed")
