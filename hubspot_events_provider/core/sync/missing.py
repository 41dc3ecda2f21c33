"""Known events that left the source: the candidates of ``on_missing`` (cancel or delete).

:func:`find_missing` streams the source's keys to a temporary on-disk table and keeps, in another,
the known events of the run's accounts that are not among them; :class:`MissingKeys` reads them back
in pages. Memory stays flat at 1M keys.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from hubspot_events_provider.core.sync.statedb import PAGE, EventKey

__all__ = ["MissingCounts", "MissingKeys", "find_missing", "missing_page"]


class MissingCounts(NamedTuple):
    """What :func:`find_missing` found: the counts :func:`.guardrails.decide_missing` weighs."""

    missing: int
    known: int
    source_keys: int
    accounts: int


class MissingKeys:
    """Known events of the run's accounts that are not in the source (see
    :meth:`~hubspot_events_provider.core.sync.state.SyncState.missing_keys`).

    Iterating yields the keys in pages read from disk (memory flat); ``count``, ``known`` and
    ``source_keys`` feed :func:`~hubspot_events_provider.core.sync.guardrails.decide_missing`.

    :param pages: reads the keys from the start, page by page.
    :param counts: what :func:`find_missing` found.
    """

    def __init__(self, pages: Callable[[], Iterator[EventKey]], counts: MissingCounts) -> None:
        self._pages = pages
        self.count = counts.missing
        self.known = counts.known
        self.source_keys = counts.source_keys
        self.accounts = counts.accounts

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[EventKey]:
        return self._pages()


def find_missing(
    db: sqlite3.Connection,
    seen: Iterable[EventKey],
    accounts: Iterable[str] | None,
    *,
    exclude_cancelled: bool,
) -> MissingCounts:
    """Fill ``temp.missing`` with the known events of ``accounts`` that are not among ``seen``.

    :param db: the state's open connection (no transaction open).
    :param seen: every key of the source this run.
    :param accounts: the run's externalAccountIds; ``None`` derives them from ``seen``.
    :param exclude_cancelled: leave out events already cancelled.
    """
    _new_tables(db)
    db.execute("BEGIN")
    _load_seen(db, seen)
    if accounts is None:
        db.execute("INSERT INTO temp.accounts SELECT DISTINCT account FROM temp.seen")
    else:
        db.executemany("INSERT OR IGNORE INTO temp.accounts VALUES (?)", [(a,) for a in accounts])
    db.execute(
        "CREATE TEMP TABLE missing AS SELECT e.account, e.event FROM events e "
        "JOIN temp.accounts a ON a.account = e.account "
        + ("WHERE e.cancelled = 0 AND " if exclude_cancelled else "WHERE ")
        + "NOT EXISTS (SELECT 1 FROM temp.seen s "
        "WHERE s.account = e.account AND s.event = e.event) "
        "ORDER BY e.account, e.event"
    )
    db.execute("COMMIT")
    return _counts(db)


def _new_tables(db: sqlite3.Connection) -> None:
    """Drop the tables of an earlier call and create empty ``seen`` and ``accounts``."""
    db.execute("DROP TABLE IF EXISTS temp.seen")
    db.execute("DROP TABLE IF EXISTS temp.missing")
    db.execute("DROP TABLE IF EXISTS temp.accounts")
    db.execute(
        "CREATE TEMP TABLE seen (account TEXT, event TEXT, PRIMARY KEY (account, event)) WITHOUT ROWID"
    )
    db.execute("CREATE TEMP TABLE accounts (account TEXT PRIMARY KEY) WITHOUT ROWID")


def _load_seen(db: sqlite3.Connection, seen: Iterable[EventKey]) -> None:
    """Stream the source's keys into ``temp.seen`` a page at a time (memory flat)."""
    chunk: list[EventKey] = []
    for key in seen:
        chunk.append(key)
        if len(chunk) >= PAGE:
            db.executemany("INSERT OR IGNORE INTO temp.seen VALUES (?, ?)", chunk)
            chunk.clear()
    db.executemany("INSERT OR IGNORE INTO temp.seen VALUES (?, ?)", chunk)


def _counts(db: sqlite3.Connection) -> MissingCounts:
    (count,) = db.execute("SELECT COUNT(*) FROM temp.missing").fetchone()
    (known,) = db.execute(
        "SELECT COUNT(*) FROM events e JOIN temp.accounts a ON a.account = e.account"
    ).fetchone()
    (source,) = db.execute("SELECT COUNT(*) FROM temp.seen").fetchone()
    (n_accounts,) = db.execute("SELECT COUNT(*) FROM temp.accounts").fetchone()
    return MissingCounts(int(count), int(known), int(source), int(n_accounts))


def missing_page(db: sqlite3.Connection, after_rowid: int) -> list[tuple[int, str, str]]:
    """The next page of ``temp.missing`` after ``after_rowid``: ``(rowid, account, event)``."""
    rows = db.execute(
        "SELECT rowid, account, event FROM temp.missing WHERE rowid > ? ORDER BY rowid LIMIT ?",
        (after_rowid, PAGE),
    ).fetchall()
    return [(int(r), str(a), str(e)) for r, a, e in rows]
