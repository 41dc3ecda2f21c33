"""EventSpool: an on-disk (SQLite) store of valid rows that de-duplicates by external ids, last row wins.

Pass 1 of an upsert adds every valid row; :meth:`EventSpool.finish` then decides, for each
``(externalAccountId, externalEventId)``, which row wins (the one with the highest position, i.e.
the last one read). :meth:`EventSpool.superseded` lists the others (each with the position of the
row that replaced it) and :meth:`EventSpool.winners` yields the rows to send, in input order.

Everything lives in a temporary SQLite file, so memory stays flat whatever the number of rows:
no Python structure holds all keys. The file is deleted on :meth:`EventSpool.close`. A spool is
used by one thread at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from hubspot_events_provider.core.jsoncodec import decode, encode_payload
from hubspot_events_provider.core.report import json_default

__all__ = ["EventSpool", "SpooledEvent", "SupersededEvent"]

_CHUNK_ROWS = 1000


class SpooledEvent(NamedTuple):
    """A winning row: 1-based ``position``, source ``line``, ``key``, the ``original`` row and the
    HubSpot ``payload``."""

    position: int
    line: int | None
    key: tuple[str, str]
    original: Any
    payload: dict[str, Any]


class SupersededEvent(NamedTuple):
    """A row replaced by a later row with the same key (at position ``replaced_by``)."""

    position: int
    line: int | None
    key: tuple[str, str]
    original: Any
    replaced_by: int


class EventSpool:
    """SQLite-backed de-duplicating spool of valid rows.

    :param directory: where to create the temporary file (default: the system temp directory).
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        if directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
        fd, self.path = tempfile.mkstemp(prefix="hubspot-spool-", suffix=".sqlite3", dir=directory)
        os.close(fd)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "temp_store=FILE",
            "cache_size=-16000",
            "locking_mode=EXCLUSIVE",
        ):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute(
            "CREATE TABLE rows (position INTEGER PRIMARY KEY, line INTEGER, account TEXT NOT NULL, "
            "event TEXT NOT NULL, original TEXT NOT NULL, payload BLOB NOT NULL)"
        )
        self._db.execute("CREATE TABLE winners (position INTEGER PRIMARY KEY)")
        self._db.execute("BEGIN")
        self._pending: list[tuple[int, int | None, str, str, str, bytes]] = []
        self._dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=json_default).encode
        self._finished = False
        self._closed = False
        self.total_count = 0
        self.winner_count = 0

    # -- writing -----------------------------------------------------------------------------------

    def add(
        self,
        position: int,
        line: int | None,
        key: tuple[str, str],
        original_row: Any,
        payload: Mapping[str, Any],
    ) -> None:
        """Spool one valid row.

        :param position: the row's 1-based position in the input (a later row has a higher one).
        :param line: its line in the source, if any.
        :param key: ``(externalAccountId, externalEventId)``.
        :param original_row: the source row as read (JSON-serialisable, or made so with ``str``).
        :param payload: the HubSpot input object.
        :raises RuntimeError: after :meth:`finish`.
        """
        if self._finished:
            raise RuntimeError("EventSpool.add() after finish()")
        account, event = key
        dumps = self._dumps
        self._pending.append((position, line, account, event, dumps(original_row), encode_payload(payload)))
        if len(self._pending) >= _CHUNK_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            try:
                self._db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?)", self._pending)
            except sqlite3.IntegrityError:
                raise ValueError("EventSpool.add(): the same position was added twice") from None
            self.total_count += len(self._pending)
            self._pending.clear()

    def finish(self) -> None:
        """Decide the winners (idempotent). Call once every row is added."""
        if self._finished:
            return
        self._flush()
        db = self._db
        db.execute("CREATE INDEX rows_key ON rows (account, event, position)")
        db.execute("INSERT INTO winners SELECT MAX(position) FROM rows GROUP BY account, event")
        db.execute("COMMIT")
        (self.winner_count,) = db.execute("SELECT COUNT(*) FROM winners").fetchone()
        self._finished = True

    # -- reading -----------------------------------------------------------------------------------

    @property
    def superseded_count(self) -> int:
        """Rows replaced by a later duplicate (known after :meth:`finish`)."""
        return self.total_count - self.winner_count if self._finished else 0

    def superseded(self) -> Iterator[SupersededEvent]:
        """Yield rows replaced by a later row with the same key, in input order."""
        self._require_finished()
        if not self.superseded_count:
            return
        cursor = self._db.execute(
            "SELECT r.position, r.line, r.account, r.event, r.original, "
            "(SELECT MAX(x.position) FROM rows x WHERE x.account = r.account AND x.event = r.event) "
            "FROM rows r WHERE r.position NOT IN (SELECT position FROM winners) ORDER BY r.position"
        )
        loads = decode
        for position, line, account, event, original, replaced_by in cursor:
            yield SupersededEvent(position, line, (account, event), loads(original), replaced_by)

    def winners(self) -> Iterator[SpooledEvent]:
        """Yield the rows to send (the last row of each key), in input order."""
        self._require_finished()
        cursor = self._db.execute(
            "SELECT r.position, r.line, r.account, r.event, r.original, r.payload "
            "FROM winners w JOIN rows r ON r.position = w.position ORDER BY w.position"
        )
        loads = decode
        for position, line, account, event, original, payload in cursor:
            yield SpooledEvent(position, line, (account, event), loads(original), loads(payload))

    def _require_finished(self) -> None:
        if not self._finished:
            raise RuntimeError("call EventSpool.finish() before reading winners or superseded rows")

    # -- lifetime ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database and delete the temporary file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        self._db.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> EventSpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
