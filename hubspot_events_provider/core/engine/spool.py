"""RowSpool: an on-disk (SQLite) store of valid rows that de-duplicates by key, last row wins.

Pass 1 of a write adds every valid row with its key (any tuple of strings: the external ids of an
event, or of an event, a contact and a state). :meth:`RowSpool.finish` then decides, for each key,
which row wins (the one with the highest position, i.e. the last one read).
:meth:`RowSpool.superseded` lists the others (each with the position of the row that replaced it)
and :meth:`RowSpool.winners` yields the rows to send, ordered by phase, then request group, then
input order, so that the rows of one request come out next to each other.

Everything lives in a temporary SQLite file, so memory stays flat whatever the number of rows:
no Python structure holds all keys. The file is deleted on :meth:`RowSpool.close`. A spool is
used by one thread at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from hubspot_events_provider.core.engine.report import ClosesOnExit, json_default
from hubspot_events_provider.core.rows.identity import Key, RowRef, WriteItem
from hubspot_events_provider.core.rows.jsoncodec import decode, encode_payload

__all__ = ["EventSpool", "KeptAnswer", "RowSpool", "SupersededRow"]

_CHUNK_ROWS = 1000
_NO_GROUP = encode_payload(())
_decode_key = msgspec.json.Decoder(tuple[str, ...]).decode


class SupersededRow(NamedTuple):
    """A row replaced by a later row with the same key (at position ``replaced_by``)."""

    ref: RowRef
    key: Key
    replaced_by: int


class KeptAnswer(NamedTuple):
    """HubSpot's answer for a row sent before :meth:`RowSpool.finish`: written (with ``object_id``)
    when ``category`` is ``None``, else refused (``category``, ``message``, ``field``)."""

    item: WriteItem
    object_id: str | None
    category: str | None
    message: str | None
    field: str | None


#: A refused row's answer: position, category, message, field.
Refusal = tuple[int, str, str, str | None]


class RowSpool(ClosesOnExit):
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
            "CREATE TABLE rows (position INTEGER PRIMARY KEY, line INTEGER, source INTEGER NOT NULL, "
            "key BLOB NOT NULL, grp BLOB NOT NULL, phase INTEGER NOT NULL, original TEXT NOT NULL, "
            "payload BLOB NOT NULL)"
        )
        self._db.execute("CREATE TABLE winners (position INTEGER PRIMARY KEY, phase INTEGER, grp BLOB)")
        self._db.execute("CREATE TABLE sent (position INTEGER PRIMARY KEY)")
        # answers to rows sent before finish(), kept until it is known which rows won (see keep_answers)
        self._db.execute(
            "CREATE TABLE answers (position INTEGER PRIMARY KEY, object_id TEXT, category TEXT, "
            "message TEXT, field TEXT)"
        )
        self._db.execute("BEGIN")
        self._pending: list[tuple[int, int | None, int, bytes, bytes, int, str, bytes]] = []
        self._sources: dict[str, int] = {}
        self._dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=json_default).encode
        self._routed = False  # some row has a group or a phase: winners are read in that order
        self._sent: list[tuple[int]] = []
        self.sent_count = 0
        self._finished = False
        self._closed = False
        self.total_count = 0
        self.winner_count = 0

    # -- writing -----------------------------------------------------------------------------------

    def add(
        self,
        ref: RowRef,
        key: Key,
        payload: Mapping[str, Any],
        *,
        group: Key = (),
        phase: int = 0,
    ) -> None:
        """Spool one valid row.

        :param ref: the row's identity (its position orders duplicates: a later row wins).
        :param key: the row's key; rows with equal keys are duplicates.
        :param payload: the HubSpot input object.
        :param group: the request group (rows sent in one request share it).
        :param phase: every row of a lower phase is yielded before any row of a higher one.
        :raises RuntimeError: after :meth:`finish`.
        """
        if self._finished:
            raise RuntimeError("RowSpool.add() after finish()")
        source = self._sources.setdefault(ref.source, len(self._sources))
        if group or phase:
            self._routed = True
        self._pending.append(
            (
                ref.position,
                ref.line,
                source,
                encode_payload(key),
                encode_payload(group) if group else _NO_GROUP,
                phase,
                self._dumps(ref.original),
                encode_payload(payload),
            )
        )
        if len(self._pending) >= _CHUNK_ROWS:
            self._flush()

    def mark_sent(self, positions: Iterable[int]) -> None:
        """Note rows sent before :meth:`finish` (sending overlapped reading): :meth:`unsent_winners`
        leaves them out.

        :param positions: positions of rows already added.
        :raises RuntimeError: after :meth:`finish`.
        """
        if self._finished:
            raise RuntimeError("RowSpool.mark_sent() after finish()")
        self._sent.extend((p,) for p in positions)
        if len(self._sent) >= _CHUNK_ROWS:
            self._flush_sent()

    def keep_answers(self, written: Iterable[tuple[int, str | None]], refused: Iterable[Refusal]) -> None:
        """Keep HubSpot's answers for rows sent while reading, told after :meth:`finish` by
        :meth:`kept_answers`: only then is it known whether a later row of the key replaced them.

        :param written: ``(position, object_id)`` of rows HubSpot took.
        :param refused: ``(position, category, message, field)`` of rows HubSpot refused.
        """
        rows = [(p, o, None, None, None) for p, o in written] + [(p, None, c, m, f) for p, c, m, f in refused]
        if not rows:
            return
        if self._finished:  # autocommit since finish(): one transaction, not one per row
            self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO answers VALUES (?, ?, ?, ?, ?)", rows)
        if self._finished:
            self._db.execute("COMMIT")

    def kept_answers(self) -> Iterator[KeptAnswer]:
        """The answers :meth:`keep_answers` kept, in input order: after :meth:`finish`, only those of
        winners (a replaced row is :meth:`superseded`, sent or not); before it (a run stopped while
        reading), every one."""
        self._flush()
        winners = "JOIN winners w ON w.position = a.position " if self._finished else ""
        cursor = self._db.execute(
            "SELECT r.position, r.line, r.source, r.key, r.original, r.payload, r.grp, r.phase, "
            "a.object_id, a.category, a.message, a.field FROM answers a "
            + winners
            + "JOIN rows r ON r.position = a.position ORDER BY a.position"
        )
        names = list(self._sources)
        for position, line, source, key, original, payload, grp, phase, *answer in cursor:
            ref = RowRef(position, line, decode(original), names[source])
            item = WriteItem(ref, _decode_key(key), decode(payload), tuple(decode(grp)), phase)
            yield KeptAnswer(item, *answer)

    def _flush_sent(self) -> None:
        if self._sent:
            self._db.executemany("INSERT OR IGNORE INTO sent VALUES (?)", self._sent)
            self._sent.clear()

    def _flush(self) -> None:
        if self._pending:
            try:
                self._db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._pending)
            except sqlite3.IntegrityError:
                raise ValueError("RowSpool.add(): the same position was added twice") from None
            self.total_count += len(self._pending)
            self._pending.clear()

    def finish(self) -> None:
        """Decide the winners (idempotent). Call once every row is added."""
        if self._finished:
            return
        self._flush()
        self._flush_sent()
        db = self._db
        (self.sent_count,) = db.execute("SELECT COUNT(*) FROM sent").fetchone()
        db.execute("CREATE INDEX rows_key ON rows (key, position)")
        # With a lone MAX(), SQLite takes the bare columns (phase, grp) from the row holding the max.
        if self._routed:
            db.execute("INSERT INTO winners SELECT MAX(position), phase, grp FROM rows GROUP BY key")
            db.execute("CREATE INDEX winners_route ON winners (phase, grp, position)")
        else:  # one group, one phase (events): the index on (key, position) covers this, read by position
            db.execute(
                "INSERT INTO winners (position, phase, grp) "
                "SELECT MAX(position), 0, ? FROM rows GROUP BY key",
                (_NO_GROUP,),
            )
        db.execute("COMMIT")
        (self.winner_count,) = db.execute("SELECT COUNT(*) FROM winners").fetchone()
        self._finished = True

    # -- reading -----------------------------------------------------------------------------------

    @property
    def superseded_count(self) -> int:
        """Rows replaced by a later duplicate (known after :meth:`finish`)."""
        return self.total_count - self.winner_count if self._finished else 0

    def batch_count(self, batch_size: int) -> int:
        """Requests needed to send the winners ``batch_size`` at a time, a batch never spanning groups.

        :param batch_size: rows per request.
        """
        self._require_finished()
        cursor = self._db.execute("SELECT COUNT(*) FROM winners GROUP BY phase, grp")
        return sum(-(-n // batch_size) for (n,) in cursor)

    def superseded(self) -> Iterator[SupersededRow]:
        """Yield rows replaced by a later row with the same key, in input order."""
        self._require_finished()
        if not self.superseded_count:
            return
        cursor = self._db.execute(
            "SELECT r.position, r.line, r.source, r.key, r.original, "
            "(SELECT MAX(x.position) FROM rows x WHERE x.key = r.key) "
            "FROM rows r WHERE r.position NOT IN (SELECT position FROM winners) ORDER BY r.position"
        )
        names = list(self._sources)
        for position, line, source, key, original, replaced_by in cursor:
            ref = RowRef(position, line, decode(original), names[source])
            yield SupersededRow(ref, _decode_key(key), replaced_by)

    def winners(self) -> Iterator[WriteItem]:
        """Yield the rows to send (the last row of each key) by phase, group, then input order."""
        return self._winners("")

    def unsent_winners(self) -> Iterator[WriteItem]:
        """:meth:`winners` minus the rows :meth:`mark_sent` noted, in the same order (a query that
        skips them: after an overlapped read most winners were sent, and decoding them costs)."""
        if not self.sent_count:
            return self._winners("")
        return self._winners("WHERE w.position NOT IN (SELECT position FROM sent) ")

    def _winners(self, where: str) -> Iterator[WriteItem]:
        self._require_finished()
        cursor = self._db.execute(
            "SELECT r.position, r.line, r.source, r.key, r.original, r.payload, w.grp, w.phase "
            "FROM winners w JOIN rows r ON r.position = w.position "
            + where
            + ("ORDER BY w.phase, w.grp, w.position" if self._routed else "ORDER BY w.position")
        )
        return self._items(cursor)

    def _items(self, cursor: sqlite3.Cursor) -> Iterator[WriteItem]:
        names = list(self._sources)
        loads = decode
        groups: dict[bytes, Key] = {}
        for position, line, source, key, original, payload, grp, phase in cursor:
            group = groups.get(grp)
            if group is None:
                group = groups.setdefault(grp, tuple(loads(grp))) if len(groups) < 1024 else tuple(loads(grp))
            ref = RowRef(position, line, loads(original), names[source])
            yield WriteItem(ref, _decode_key(key), loads(payload), group, phase)

    def _require_finished(self) -> None:
        if not self._finished:
            raise RuntimeError("call RowSpool.finish() before reading winners or superseded rows")

    # -- lifetime ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database and delete the temporary file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        self._sent.clear()
        self._db.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


EventSpool = RowSpool
"""The name of the spool before it carried other write kinds than events."""
