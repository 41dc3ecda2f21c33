"""The sync state's SQLite file: its schema, one statement per kind of record, and the queries.

:class:`~hubspot_events_provider.core.sync.state.SyncState` owns the lock, the working copy, the
buffer of records and publishing; every line of SQL it runs is here. Each function takes the open
connection; the caller holds the state's mutex.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hubspot_events_provider.core.sync.storage import StateCorruptError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PAGE",
    "EventKey",
    "key_page",
    "open_db",
    "unchanged_hits",
    "write_records",
]

EventKey = tuple[str, str]

FORMAT_NAME = "hubspot-events-sync-state"
FORMAT_VERSION = "1"
#: Rows per page when keys are read back, and records per buffered write.
PAGE = 2000

_SCHEMA = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE events (account TEXT NOT NULL, event TEXT NOT NULL, digest TEXT, "
    "outcome TEXT NOT NULL, cancelled INTEGER NOT NULL DEFAULT 0, completed INTEGER NOT NULL DEFAULT 0, "
    "object_id TEXT, updated_at REAL NOT NULL, PRIMARY KEY (account, event)) WITHOUT ROWID",
)
_UPSERT = (
    "INSERT INTO events (account, event, digest, outcome, object_id, updated_at) "
    "VALUES (?, ?, ?, '{outcome}', ?, ?) ON CONFLICT (account, event) DO UPDATE SET {sets}, "
    "updated_at = excluded.updated_at"
)
_STATEMENTS = {
    "confirmed": _UPSERT.format(
        outcome="confirmed",
        sets="digest = excluded.digest, outcome = 'confirmed', "
        "object_id = COALESCE(excluded.object_id, events.object_id)",
    ),
    "failed": _UPSERT.format(outcome="failed", sets="outcome = 'failed'"),
    "pending": _UPSERT.format(outcome="pending", sets="outcome = 'pending'"),
    "cancelled": "INSERT INTO events (account, event, outcome, cancelled, updated_at) "
    "VALUES (?, ?, 'pending', 1, ?) ON CONFLICT (account, event) DO UPDATE SET cancelled = 1, "
    "updated_at = excluded.updated_at",
    "completed": "INSERT INTO events (account, event, outcome, completed, updated_at) "
    "VALUES (?, ?, 'pending', 1, ?) ON CONFLICT (account, event) DO UPDATE SET completed = 1, "
    "updated_at = excluded.updated_at",
    "deleted": "DELETE FROM events WHERE account = ? AND event = ?",
}


def open_db(work: Path, *, fresh: bool, location: str) -> sqlite3.Connection:
    """Open the working copy: a new state when ``fresh``, else check the existing one.

    :param work: the private working copy.
    :param fresh: empty the file and write a new schema.
    :param location: where the state lives, for the message.
    :raises StateCorruptError: the existing file is unreadable, corrupt or not a state of this format.
    """
    if fresh:
        work.write_bytes(b"")
    db = sqlite3.connect(work, isolation_level=None, check_same_thread=False)
    try:
        # The working copy is private and re-downloadable: no fsync. The rollback journal stays
        # in memory so a failed chunk can still roll back.
        for pragma in ("journal_mode=MEMORY", "synchronous=OFF", "temp_store=FILE", "cache_size=-8000"):
            db.execute(f"PRAGMA {pragma}")
        if fresh:
            for statement in _SCHEMA:
                db.execute(statement)
            db.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("format", FORMAT_NAME), ("version", FORMAT_VERSION), ("generation", "0")],
            )
        else:
            _validate(db)
    except sqlite3.DatabaseError as exc:
        db.close()
        if fresh:
            raise
        raise StateCorruptError(
            f"sync state {location} is unreadable or corrupt ({exc}); fix or remove it, or run "
            "with full_refresh=True to ignore it and rebuild it (every row is sent again)."
        ) from None
    return db


def _validate(db: sqlite3.Connection) -> None:
    (check,) = db.execute("PRAGMA quick_check").fetchone()
    if check != "ok":
        raise sqlite3.DatabaseError(f"integrity check: {check}")
    meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
    if meta.get("format") != FORMAT_NAME:
        raise sqlite3.DatabaseError("not a hubspot-events sync state")
    if meta.get("version") != FORMAT_VERSION:
        raise sqlite3.DatabaseError(f"unsupported state version {meta.get('version')!r}")
    db.execute("SELECT account, event, digest, outcome, cancelled, completed, object_id FROM events LIMIT 1")


def write_records(db: sqlite3.Connection, ops: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
    """Write buffered records in one transaction, grouping consecutive records of one kind.

    :param ops: ``(kind, parameters)`` in the order recorded; kinds are the keys of ``_STATEMENTS``.
    """
    db.execute("BEGIN")
    try:
        start = 0
        while start < len(ops):
            kind = ops[start][0]
            end = start
            while end < len(ops) and ops[end][0] == kind:
                end += 1
            db.executemany(_STATEMENTS[kind], [p for _k, p in ops[start:end]])
            start = end
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def unchanged_hits(db: sqlite3.Connection, items: Sequence[tuple[EventKey, str]]) -> list[int]:
    """The indexes of ``items`` whose ``(key, digest)`` HubSpot confirmed last, in one query.

    :param items: ``(key, digest)`` pairs.
    """
    db.execute(
        "CREATE TEMP TABLE IF NOT EXISTS probe (i INTEGER PRIMARY KEY, account TEXT, event TEXT, digest TEXT)"
    )
    db.execute("BEGIN")
    try:
        db.execute("DELETE FROM temp.probe")
        db.executemany(
            "INSERT INTO temp.probe VALUES (?, ?, ?, ?)",
            [(i, key[0], key[1], digest) for i, (key, digest) in enumerate(items)],
        )
        hits = db.execute(
            "SELECT p.i FROM temp.probe p JOIN events e ON e.account = p.account "
            "AND e.event = p.event AND e.digest = p.digest AND e.outcome = 'confirmed'"
        ).fetchall()
    finally:
        db.execute("COMMIT")
    return [int(i) for (i,) in hits]


def key_page(db: sqlite3.Connection, after: EventKey | None) -> list[tuple[str, str]]:
    """The next page of known keys in key order, after ``after`` (from the first when ``None``)."""
    if after is None:
        rows = db.execute(
            "SELECT account, event FROM events ORDER BY account, event LIMIT ?", (PAGE,)
        ).fetchall()
    else:
        rows = db.execute(
            "SELECT account, event FROM events WHERE (account, event) > (?, ?) "
            "ORDER BY account, event LIMIT ?",
            (after[0], after[1], PAGE),
        ).fetchall()
    return [(str(a), str(e)) for a, e in rows]
