"""JSON Lines files of a run: :class:`JsonLinesWriter` (the rejected, results and payloads files).

The writers only ever see rows and outcomes, never credentials.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any, Self

from hubspot_events_provider.core.rows.jsoncodec import json_default

__all__ = ["ClosesOnExit", "JsonLinesWriter"]


class ClosesOnExit:
    """``with obj:`` closes ``obj`` on the way out (for classes with a ``close()`` method)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class JsonLinesWriter(ClosesOnExit):
    """Write one JSON object per line to a path or to an open text or binary file object.

    A path is opened (and closed) by the writer; a file object is only flushed, its owner closes it.

    :param target: a local path, or a file object opened for writing (binary or text).
    """

    def __init__(self, target: str | os.PathLike[str] | IO[bytes] | IO[str]) -> None:
        self._owned = isinstance(target, str | os.PathLike)
        self.path: str | None = os.fspath(target) if isinstance(target, str | os.PathLike) else None
        handle: Any = open(target, "wb") if isinstance(target, str | os.PathLike) else target  # noqa: SIM115
        self._handle = handle
        self._binary = not isinstance(handle, io.TextIOBase) and "b" in getattr(handle, "mode", "b")
        self._encode = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), default=json_default
        ).encode
        self.lines = 0
        self._closed = False

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as a JSON line.

        :param record: a JSON-serialisable mapping (datetimes, Decimals... become strings).
        """
        text = self._encode(record) + "\n"
        self._handle.write(text.encode("utf-8") if self._binary else text)
        self.lines += 1

    def flush(self) -> None:
        """Flush buffered lines to the file."""
        if not self._closed:
            self._handle.flush()

    def close(self) -> None:
        """Flush, and close the file if the writer opened it (idempotent)."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        if self._owned:
            self._handle.close()
