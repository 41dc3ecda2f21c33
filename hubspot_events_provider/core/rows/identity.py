"""One row's identity, made where the row is read and carried unchanged to the report.

A reader yields each input row as a :class:`SourceRow` (its position, its line, its data); a source
row becomes a :class:`RowRef` (where it came from and what it held) the moment the write
pipeline reads it. Every later stage (validation, the spool, the batch sender, the report) carries
that same record instead of re-passing its fields one by one, so the rejected file, the results
file and the summary's sample errors always describe the row exactly as it was read.

A valid row travels with its key and its HubSpot payload as a :class:`WriteItem`. Both are named
tuples: immutable, and made a million times per run at the cost of a tuple.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["Key", "RowRef", "SourceRow", "WriteItem"]


class SourceRow(NamedTuple):
    """One input row: 1-based ``position`` among the rows, 1-based source ``line`` (``None`` when the
    source has no lines), and the row ``data`` (a dict, or whatever non-object the source held)."""

    position: int
    line: int | None
    data: Any


Key = tuple[str, ...]
"""A row's identity in HubSpot (e.g. ``(externalAccountId, externalEventId)``): rows with equal keys
are duplicates and the last one read wins."""


class RowRef(NamedTuple):
    """Where a row came from and what it held.

    :param position: 1-based position among the rows of the run.
    :param line: 1-based line in the source file, when the source has lines.
    :param original: the row as read (written unchanged to the rejected file).
    :param source: a name for the input (``events``, ``events_file 'x.jsonl'``...).
    """

    position: int
    line: int | None
    original: Any
    source: str = "input"

    @property
    def where(self) -> int:
        """The line when known, else the position: what a person looks for in the input."""
        return self.line if self.line is not None else self.position


class WriteItem(NamedTuple):
    """A valid row ready to send: its identity, its key and the HubSpot input object.

    :param ref: the row's identity.
    :param key: the row's key (see :data:`Key`).
    :param payload: what is sent to HubSpot for this row.
    :param group: the request group the row belongs to (rows of one request share it).
    :param phase: rows of a lower phase are all answered before any row of a higher one is sent.
    """

    ref: RowRef
    key: Key
    payload: Mapping[str, Any]
    group: Key = ()
    phase: int = 0
