"""The sync state's SQLite file: its schema, one statement per kind of record, and the queries.

:class:`~hubspot_events_provider.core.sync.state.SyncState` owns the lock, the working copy, the
buffer of records and publishing; every line of SQL it runs is here. Each function takes the open
connection; the caller holds the state's mutex.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hubspot_events_provider.core.sync.storage import StateCorruptError

__all__ = [
    "EVENTS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PAGE",
    "PARTICIPATIONS",
    "EventKey",
    "KeyShape",
    "Outcome",
    "StateEntry",
    "StateKey",
    "StateKindError",
    "key_page",
    "open_db",
    "stored_shape",
    "unchanged_hits",
    "write_records",
]

EventKey = tuple[str, str]
#: A state's key: as many strings as its :class:`KeyShape` has columns.
StateKey = tuple[str, ...]

FORMAT_NAME = "hubspot-events-sync-state"
FORMAT_VERSION = "1"
#: Rows per page when keys are read back, and records per buffered write.
PAGE = 2000


class StateKindError(StateCorruptError):
    """The state holds rows of another kind (e.g. the events' state given to attendance).

    Raised even with ``full_refresh``: rebuilding would destroy the other kind's state.
    """


@dataclass(frozen=True)
class KeyShape:
    """What one state keys its rows by: its name (in the file's meta), table and key columns.

    Every shape's table has the same value columns (digest, outcome, lifecycle marks, objectId), so
    one set of statements serves each; only the key differs.

    :param name: stored as the meta ``keys`` (a file without it is an events state: every state
        written before other shapes existed).
    :param table: the table of the rows.
    :param columns: the key's columns, in key order.
    """

    name: str
    table: str
    columns: tuple[str, ...]

    @property
    def where(self) -> str:
        """``col = ? AND ...`` over the key columns."""
        return " AND ".join(f"{c} = ?" for c in self.columns)

    @property
    def names(self) -> str:
        """The key columns, comma-separated."""
        return ", ".join(self.columns)

    @property
    def marks(self) -> str:
        """One ``?`` per key column."""
        return ", ".join("?" for _ in self.columns)


#: ``(externalAccountId, externalEventId)``: the upsert's and the delete's state.
EVENTS = KeyShape("event", "events", ("account", "event"))
#: ``(externalAccountId, externalEventId, contact, subscriberState)``: the attendance state.
PARTICIPATIONS = KeyShape("participation", "participations", ("account", "event", "contact", "state"))
_SHAPES = {shape.name: shape for shape in (EVENTS, PARTICIPATIONS)}


def _schema(shape: KeyShape) -> str:
    keys = ", ".join(f"{c} TEXT NOT NULL" for c in shape.columns)
    return (
        f"CREATE TABLE {shape.table} ({keys}, digest TEXT, outcome TEXT NOT NULL, "
        "cancelled INTEGER NOT NULL DEFAULT 0, completed INTEGER NOT NULL DEFAULT 0, "
        f"object_id TEXT, updated_at REAL NOT NULL, PRIMARY KEY ({shape.names})) WITHOUT ROWID"
    )


@functools.cache
def _statements(shape: KeyShape) -> dict[str, str]:
    """One statement per kind of record; parameters: the key's parts, then the kind's values."""
    t, names, marks = shape.table, shape.names, shape.marks
    upsert = (
        f"INSERT INTO {t} ({names}, digest, outcome, object_id, updated_at) "
        f"VALUES ({marks}, ?, '{{outcome}}', ?, ?) ON CONFLICT ({names}) DO UPDATE SET {{sets}}, "
        "updated_at = excluded.updated_at"
    )
    mark = (
        f"INSERT INTO {t} ({names}, outcome, {{col}}, updated_at) VALUES ({marks}, 'pending', 1, ?) "
        f"ON CONFLICT ({names}) DO UPDATE SET {{col}} = 1, updated_at = excluded.updated_at"
    )
    return {
        "confirmed": upsert.format(
            outcome="confirmed",
            sets=f"digest = excluded.digest, outcome = 'confirmed', "
            f"object_id = COALESCE(excluded.object_id, {t}.object_id)",
        ),
        "failed": upsert.format(outcome="failed", sets="outcome = 'failed'"),
        "pending": upsert.format(outcome="pending", sets="outcome = 'pending'"),
        # a known row only (the delete's marks: an event the state never knew stays unknown)
        "pending_known": f"UPDATE {t} SET outcome = 'pending', updated_at = ?{len(shape.columns) + 1} "
        f"WHERE {' AND '.join(f'{c} = ?{i}' for i, c in enumerate(shape.columns, 1))}",
        "cancelled": mark.format(col="cancelled"),
        "completed": mark.format(col="completed"),
        "deleted": f"DELETE FROM {t} WHERE {shape.where}",
    }


def open_db(work: Path, *, fresh: bool, location: str, shape: KeyShape = EVENTS) -> sqlite3.Connection:
    """Open the working copy: a new state when ``fresh``, else check the existing one.

    :param work: the private working copy.
    :param fresh: empty the file and write a new schema.
    :param location: where the state lives, for the message.
    :param shape: what the state's rows are keyed by.
    :raises StateKindError: the existing file is a state of another shape.
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
            db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute(_schema(shape))
            db.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("format", FORMAT_NAME),
                    ("version", FORMAT_VERSION),
                    ("generation", "0"),
                    ("keys", shape.name),
                ],
            )
        else:
            _validate(db, shape, location)
    except sqlite3.DatabaseError as exc:
        db.close()
        if fresh:
            raise
        raise StateCorruptError(
            f"sync state {location} is unreadable or corrupt ({exc}); fix or remove it, or run "
            "with full_refresh=True to ignore it and rebuild it (every row is sent again)."
        ) from None
    except StateKindError:
        db.close()
        raise
    return db


def _validate(db: sqlite3.Connection, shape: KeyShape, location: str) -> None:
    (check,) = db.execute("PRAGMA quick_check").fetchone()
    if check != "ok":
        raise sqlite3.DatabaseError(f"integrity check: {check}")
    _check_shape(_meta(db), shape, location)
    db.execute(
        f"SELECT {shape.names}, digest, outcome, cancelled, completed, object_id FROM {shape.table} LIMIT 1"
    )


def _meta(db: sqlite3.Connection) -> dict[str, str]:
    meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
    if meta.get("format") != FORMAT_NAME:
        raise sqlite3.DatabaseError("not a hubspot-events sync state")
    if meta.get("version") != FORMAT_VERSION:
        raise sqlite3.DatabaseError(f"unsupported state version {meta.get('version')!r}")
    return meta


def _check_shape(meta: dict[str, str], shape: KeyShape, location: str) -> None:
    # A state written before other shapes existed has no "keys": it is an events state.
    stored = meta.get("keys", EVENTS.name)
    if stored != shape.name:
        known = _SHAPES.get(stored)
        what = f"{known.table}" if known is not None else f"rows keyed {stored!r}"
        raise StateKindError(
            f"sync state {location} holds {what}, not {shape.table}: give this task a state_path of "
            "its own (full_refresh=True does not change that: it would destroy the other state)."
        )


def stored_shape(work: Path, shape: KeyShape, location: str) -> None:
    """Refuse a readable state of another shape before ``full_refresh`` overwrites it.

    An unreadable or foreign file passes (``full_refresh`` rebuilds it, as it rebuilds a corrupt one).

    :raises StateKindError: ``work`` is a readable state of another shape.
    """
    try:
        db = sqlite3.connect(f"file:{work}?mode=ro", uri=True)
    except sqlite3.Error:
        return
    try:
        meta = _meta(db)
    except sqlite3.Error:
        return
    finally:
        db.close()
    _check_shape(meta, shape, location)


def write_records(
    db: sqlite3.Connection, ops: Sequence[tuple[str, tuple[Any, ...]]], shape: KeyShape = EVENTS
) -> None:
    """Write buffered records in one transaction, grouping consecutive records of one kind.

    :param ops: ``(kind, parameters)`` in the order recorded; kinds are the keys of ``_statements``.
    :param shape: the state's key shape.
    """
    statements = _statements(shape)
    db.execute("BEGIN")
    try:
        start = 0
        while start < len(ops):
            kind = ops[start][0]
            end = start
            while end < len(ops) and ops[end][0] == kind:
                end += 1
            db.executemany(statements[kind], [p for _k, p in ops[start:end]])
            start = end
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def unchanged_hits(
    db: sqlite3.Connection, items: Sequence[tuple[StateKey, str]], shape: KeyShape = EVENTS
) -> list[int]:
    """The indexes of ``items`` whose ``(key, digest)`` HubSpot confirmed last, in one query.

    :param items: ``(key, digest)`` pairs.
    :param shape: the state's key shape.
    """
    probe = f"probe_{shape.table}"  # one temp table per shape: their columns differ
    db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {probe} (i INTEGER PRIMARY KEY, {shape.names}, digest TEXT)")
    db.execute("BEGIN")
    try:
        db.execute(f"DELETE FROM temp.{probe}")
        db.executemany(
            f"INSERT INTO temp.{probe} VALUES (?, {shape.marks}, ?)",
            [(i, *key, digest) for i, (key, digest) in enumerate(items)],
        )
        joined = " AND ".join(f"e.{c} = p.{c}" for c in shape.columns)
        hits = db.execute(
            f"SELECT p.i FROM temp.{probe} p JOIN {shape.table} e ON {joined} "
            "AND e.digest = p.digest AND e.outcome = 'confirmed'"
        ).fetchall()
    finally:
        db.execute("COMMIT")
    return [int(i) for (i,) in hits]


def key_page(db: sqlite3.Connection, after: StateKey | None, shape: KeyShape = EVENTS) -> list[StateKey]:
    """The next page of known keys in key order, after ``after`` (from the first when ``None``)."""
    names = shape.names
    if after is None:
        rows = db.execute(f"SELECT {names} FROM {shape.table} ORDER BY {names} LIMIT ?", (PAGE,)).fetchall()
    else:
        rows = db.execute(
            f"SELECT {names} FROM {shape.table} WHERE ({names}) > ({shape.marks}) ORDER BY {names} LIMIT ?",
            (*after, PAGE),
        ).fetchall()
    return [tuple(str(part) for part in row) for row in rows]


Outcome = Literal["confirmed", "failed", "pending"]


@dataclass(frozen=True)
class StateEntry:
    """What the state knows of one event.

    :param digest: digest of the payload HubSpot last confirmed (``None`` if never confirmed).
    :param outcome: ``confirmed``, ``failed`` or ``pending`` (sent, outcome unknown).
    :param cancelled: HubSpot confirmed a cancel of this event.
    :param completed: HubSpot confirmed a complete of this event.
    :param object_id: HubSpot's objectId, when known.
    """

    digest: str | None
    outcome: Outcome
    cancelled: bool
    completed: bool
    object_id: str | None
