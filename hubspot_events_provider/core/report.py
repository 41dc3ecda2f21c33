"""The run report: :class:`UpsertReport` (counts, samples, bounded summary) and JSON Lines writers.

Every row of an upsert ends in exactly one bucket: ``upserted``, ``rejected`` (refused before
sending), ``failed`` (refused by HubSpot) or ``superseded`` (replaced by a later row with the same
external ids), so ``upserted + rejected + failed + superseded == total`` (``would_upsert`` takes the
place of ``upserted`` on a dry run). The methods that count a row also write its line to the
rejected or results file, so a caller cannot do one without the other.

:meth:`UpsertReport.summary` is what goes to XCom: its size never grows with the input (counts,
at most :data:`MAX_SAMPLE_ERRORS` sample errors, a bounded ``errors_by_category``). The writers
only ever see rows and outcomes, never credentials.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import threading
import uuid
from collections.abc import Mapping
from decimal import Decimal
from types import TracebackType
from typing import IO, Any

__all__ = [
    "MAX_CATEGORIES",
    "MAX_SAMPLE_ERRORS",
    "SUPERSEDED",
    "JsonLinesWriter",
    "UpsertReport",
    "json_default",
]

MAX_SAMPLE_ERRORS = 20
#: Distinct ``errors_by_category`` keys kept; further categories are counted under ``OTHER``.
MAX_CATEGORIES = 50
#: Category of rejected-file lines for rows replaced by a later duplicate.
SUPERSEDED = "SUPERSEDED"
_MESSAGE_CHARS = 500
_FIELD_CHARS = 200


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback for values a DB-API cursor or XCom may hold (datetime, Decimal...).

    :param value: a value the JSON encoder cannot serialise by itself.
    """
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cut(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


class JsonLinesWriter:
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

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class UpsertReport:
    """Counts and samples of one upsert run, writing the rejected and results files as it goes.

    Thread-safe: every recording method holds a lock.

    :param dry_run: nothing is sent; ``would_upsert`` counts what would have been.
    :param rejected: writer of the rejected file (one line per row not upserted), if any.
    :param results: writer of the results file (one line per upserted event), if any.
    :param rejected_path: the location reported as ``rejected_path``.
    :param results_path: the location reported as ``results_path``.
    :param max_samples: sample errors kept in the summary (at most 20 by default).
    """

    def __init__(
        self,
        *,
        dry_run: bool = False,
        rejected: JsonLinesWriter | None = None,
        results: JsonLinesWriter | None = None,
        rejected_path: str | None = None,
        results_path: str | None = None,
        max_samples: int = MAX_SAMPLE_ERRORS,
    ) -> None:
        self.dry_run = dry_run
        self.rejected_writer = rejected
        self.results_writer = results
        self.rejected_path = (
            rejected_path if rejected_path is not None else (rejected.path if rejected else None)
        )
        self.results_path = results_path if results_path is not None else (results.path if results else None)
        self.max_samples = max_samples
        self.total = 0
        self.upserted = 0
        self.rejected = 0
        self.failed = 0
        self.superseded = 0
        self.would_upsert = 0
        self.batches = 0
        self.splits = 0
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0
        self.errors_by_category: dict[str, int] = {}
        self.sample_errors: list[dict[str, Any]] = []
        self._sample_categories: dict[str, int] = {}
        self.started_at = _now()
        self.completed_at: str | None = None
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Mark the start of the run (``started_at``)."""
        self.started_at = _now()

    def finish(self) -> None:
        """Mark the end of the run (``completed_at``) and flush the files."""
        with self._lock:
            self.completed_at = _now()
            for writer in (self.rejected_writer, self.results_writer):
                if writer is not None:
                    writer.flush()

    def count_rows(self, n: int = 1) -> None:
        """Count rows read from the source.

        :param n: how many.
        """
        with self._lock:
            self.total += n

    # -- outcomes ----------------------------------------------------------------------------------

    def reject(
        self,
        position: int,
        line: int | None,
        row: Any,
        stage: str,
        category: str,
        message: str,
        field: str | None = None,
    ) -> None:
        """Count a row refused before sending (``stage="validation"``) or by HubSpot (``"hubspot"``)
        and write it to the rejected file.

        :param position: the row's 1-based position in the input.
        :param line: its line in the source, if any.
        :param row: the original source row.
        :param stage: ``validation`` or ``hubspot``.
        :param category: a stable category (``INVALID_DATETIME``, HubSpot's ``VALIDATION_ERROR``...).
        :param message: why, in words.
        :param field: the HubSpot field at fault, if known.
        """
        if stage not in ("validation", "hubspot"):
            raise ValueError(f"stage must be 'validation' or 'hubspot', got {stage!r}")
        record = {
            "position": position,
            "line": line,
            "stage": stage,
            "category": category,
            "field": field,
            "message": message,
            "row": row,
        }
        with self._lock:
            if stage == "validation":
                self.rejected += 1
            else:
                self.failed += 1
            self._count_category(category)
            self._sample(record)
            if self.rejected_writer is not None:
                self.rejected_writer.write(record)

    def supersede(
        self,
        position: int,
        line: int | None,
        original: Any,
        replaced_by: int,
        key: tuple[str, str] | None = None,
    ) -> None:
        """Count a row replaced by a later row with the same external ids, and write it to the
        rejected file (stage ``superseded``). Not an error: not in ``numErrors`` nor the samples.

        :param position: the replaced row's position.
        :param line: its line in the source, if any.
        :param original: the replaced source row.
        :param replaced_by: the position of the row that replaced it.
        :param key: ``(externalAccountId, externalEventId)``, for the message.
        """
        ids = f" ({key[0]!r}, {key[1]!r})" if key else ""
        record = {
            "position": position,
            "line": line,
            "stage": "superseded",
            "category": SUPERSEDED,
            "field": None,
            "message": (
                f"replaced by row {replaced_by} with the same externalAccountId and externalEventId{ids}"
            ),
            "replaced_by": replaced_by,
            "row": original,
        }
        with self._lock:
            self.superseded += 1
            if self.rejected_writer is not None:
                self.rejected_writer.write(record)

    def upsert(self, position: int, key: tuple[str, str], object_id: str | None) -> None:
        """Count an event HubSpot accepted, and write it to the results file.

        :param position: the row's position in the input.
        :param key: ``(externalAccountId, externalEventId)``.
        :param object_id: HubSpot's object id, when the response gave one.
        """
        record = {
            "position": position,
            "externalAccountId": key[0],
            "externalEventId": key[1],
            "objectId": object_id,
        }
        with self._lock:
            self.upserted += 1
            if self.results_writer is not None:
                self.results_writer.write(record)

    record_upserted = upsert

    def add_client_stats(self, stats: Mapping[str, int]) -> None:
        """Add the client's ``requests``, ``retries`` and ``rate_limited`` counters.

        :param stats: e.g. ``client.stats.snapshot()``.
        """
        with self._lock:
            self.requests += int(stats.get("requests", 0))
            self.retries += int(stats.get("retries", 0))
            self.rate_limited += int(stats.get("rate_limited", 0))

    # -- summary -----------------------------------------------------------------------------------

    @property
    def num_errors(self) -> int:
        """``rejected + failed``."""
        return self.rejected + self.failed

    @property
    def error_rate(self) -> float:
        """``numErrors / total`` (0.0 when nothing was read)."""
        return round(self.num_errors / self.total, 6) if self.total else 0.0

    def invariant_holds(self) -> bool:
        """Whether every row read is accounted for exactly once."""
        done = self.upserted + self.would_upsert + self.rejected + self.failed + self.superseded
        return done == self.total

    def summary(self) -> dict[str, Any]:
        """The bounded, JSON-safe summary pushed to XCom."""
        with self._lock:
            result: dict[str, Any] = {
                "total": self.total,
                "upserted": self.upserted,
                "rejected": self.rejected,
                "failed": self.failed,
                "superseded": self.superseded,
                "numErrors": self.num_errors,
                "error_rate": self.error_rate,
                "errors_by_category": dict(sorted(self.errors_by_category.items())),
                "sample_errors": [dict(s) for s in self.sample_errors],
                "batches": self.batches,
                "requests": self.requests,
                "retries": self.retries,
                "rate_limited": self.rate_limited,
                "rejected_path": self.rejected_path,
                "results_path": self.results_path,
                "started_at": self.started_at,
                "completed_at": self.completed_at,
                "dry_run": self.dry_run,
            }
            if self.dry_run:
                result["would_upsert"] = self.would_upsert
            return result

    # -- internals (called under the lock) ------------------------------------------------------------

    def _count_category(self, category: str) -> None:
        counts = self.errors_by_category
        if category not in counts and len(counts) >= MAX_CATEGORIES:
            category = "OTHER"
        counts[category] = counts.get(category, 0) + 1

    def _sample(self, record: Mapping[str, Any]) -> None:
        """Keep the first errors, but make room for a category not yet sampled."""
        category = record["category"]
        seen = self._sample_categories
        if len(self.sample_errors) >= self.max_samples:
            if category in seen or self.max_samples == 0:
                return
            crowded = max(seen, key=lambda c: seen[c])
            if seen[crowded] < 2:
                return
            index = max(i for i, s in enumerate(self.sample_errors) if s["category"] == crowded)
            del self.sample_errors[index]
            seen[crowded] -= 1
        self.sample_errors.append(
            {
                "position": record["position"],
                "line": record["line"],
                "stage": record["stage"],
                "category": _cut(str(category), _FIELD_CHARS),
                "field": _cut(record["field"], _FIELD_CHARS),
                "message": _cut(str(record["message"]), _MESSAGE_CHARS),
            }
        )
        seen[category] = seen.get(category, 0) + 1
