"""What a plan decided per winning row before the first request, checked against the order the write
pipeline then sends them in.

A state's or a reconcile's ``prepare`` hook decides, for every winning row in sending order, whether it
is unchanged; the ``unchanged`` hook is then asked row by row in that same order. One flag and one key
checksum per row keep that memory flat at a million rows, and a row met out of order stops the run
rather than skipping the wrong row.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterable

from hubspot_events_provider.core.rows.identity import Key, WriteItem
from hubspot_events_provider.core.sync.storage import StateError

__all__ = ["PreparedOrder", "key_crc"]


def key_crc(key: Key) -> int:
    """A row key's checksum (CRC-32 of its parts)."""
    return zlib.crc32("\x1f".join(key).encode("utf-8"))


class PreparedOrder:
    """Per winning row in sending order: unchanged (1) or to send (0), with its key's checksum."""

    def __init__(self) -> None:
        self.flags = bytearray()  # 1 = unchanged, per winner in sending order
        self.crcs = array("I")  # the winner's key checksum: the pipeline's order must be prepare's
        self.position = 0

    def prepare(self, items: Iterable[WriteItem], flags: Iterable[bool]) -> None:
        """Add the decisions of the next winners, in sending order."""
        self.flags.extend(1 if flag else 0 for flag in flags)
        self.crcs.extend(key_crc(item.key) for item in items)

    def unchanged(self, item: WriteItem) -> bool:
        """The decision for the next row the pipeline sends (a ``RowHooks.unchanged`` hook).

        :raises StateError: the row is not the one prepared at this position.
        """
        index = self.position
        self.position += 1
        if index >= len(self.flags) or self.crcs[index] != key_crc(item.key):
            raise StateError("the write pipeline sent rows in another order than it prepared them")
        return bool(self.flags[index])
