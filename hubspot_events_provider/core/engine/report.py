"""The run report: :class:`WriteReport` (counts, samples, bounded summary; ``UpsertReport`` is its
former name). The JSON Lines writers it writes through are in :mod:`.report_files`.

Every row of a write ends in exactly one bucket: ``upserted`` (HubSpot confirmed it), ``unchanged``
(not sent: HubSpot already holds it), ``rejected`` (refused before sending), ``failed`` (refused by
HubSpot) or ``superseded`` (replaced by a later row with the same key), so
``upserted + unchanged + rejected + failed + superseded == total`` (``would_upsert`` takes the place
of ``upserted`` on a dry run). The report owns its counters: callers say what happened to a row
through the intent-named ``record_*`` methods, which also write its line to the rejected or results
file, so a caller cannot do one without the other; the counters themselves are read-only.

:meth:`WriteReport.summary` is what goes to XCom: its size never grows with the input (counts,
at most :data:`MAX_SAMPLE_ERRORS` sample errors, a bounded ``errors_by_category``). The writers
only ever see rows and outcomes, never credentials.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from typing import Any, Never

from hubspot_events_provider.core.engine.report_files import ClosesOnExit, JsonLinesWriter
from hubspot_events_provider.core.engine.summary import (
    STAGE_HUBSPOT,
    STAGE_SUPERSEDED,
    STAGE_VALIDATION,
    SampleError,
    UpsertSummary,
)
from hubspot_events_provider.core.rows.identity import Key, RowRef
from hubspot_events_provider.core.rows.jsoncodec import json_default

# ClosesOnExit, JsonLinesWriter and json_default stay importable from here: the operators use them.
__all__ = [
    "MAX_CATEGORIES",
    "MAX_SAMPLE_ERRORS",
    "SUPERSEDED",
    "ClosesOnExit",
    "JsonLinesWriter",
    "UpsertReport",
    "WriteReport",
    "json_default",
]

MAX_SAMPLE_ERRORS = 20
#: Distinct ``errors_by_category`` keys kept; further categories are counted under ``OTHER``.
MAX_CATEGORIES = 50
#: Category of rejected-file lines for rows replaced by a later duplicate.
SUPERSEDED = "SUPERSEDED"
#: Key part names when a report is built without ``key_fields``: the first kind's (events), so
#: ``UpsertReport()`` keeps its meaning; every kind's runner passes its own ``key_fields``.
_DEFAULT_KEY_FIELDS = ("externalAccountId", "externalEventId")
_MESSAGE_CHARS = 500
_FIELD_CHARS = 200


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cut(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


class _Count:
    """A read-only counter attribute: the report changes it, callers only read it."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: WriteReport | None, owner: type | None = None) -> int:
        if obj is None:
            raise AttributeError(self._name)
        return obj._counts.get(self._name, 0)

    def __set__(self, obj: WriteReport, value: Never) -> None:
        raise AttributeError(f"{self._name} is counted by the report; use its record_* methods")


class WriteReport:
    """Counts and samples of one write run, writing the rejected and results files as it goes.

    Thread-safe: every recording method holds a lock.

    :param dry_run: nothing is sent; ``would_upsert`` counts what would have been.
    :param rejected: writer of the rejected file (one line per row not upserted), if any.
    :param results: writer of the results file (one line per upserted row), if any.
    :param rejected_path: the location reported as ``rejected_path``.
    :param results_path: the location reported as ``results_path``.
    :param max_samples: sample errors kept in the summary (at most 20 by default).
    :param key_fields: names of the parts of a row's key, for the results file, the messages and
        the sample errors (events: ``externalAccountId``, ``externalEventId``).
    """

    total = _Count()
    upserted = _Count()
    unchanged = _Count()
    rejected = _Count()
    failed = _Count()
    superseded = _Count()
    would_upsert = _Count()
    batches = _Count()
    splits = _Count()
    isolation_requests = _Count()
    requests = _Count()
    retries = _Count()
    rate_limited = _Count()

    def __init__(
        self,
        *,
        dry_run: bool = False,
        rejected: JsonLinesWriter | None = None,
        results: JsonLinesWriter | None = None,
        rejected_path: str | None = None,
        results_path: str | None = None,
        max_samples: int = MAX_SAMPLE_ERRORS,
        key_fields: tuple[str, ...] = _DEFAULT_KEY_FIELDS,
    ) -> None:
        self.dry_run = dry_run
        self.rejected_writer = rejected
        self.results_writer = results
        self.rejected_path = (
            rejected_path if rejected_path is not None else (rejected.path if rejected else None)
        )
        self.results_path = results_path if results_path is not None else (results.path if results else None)
        self.max_samples = max_samples
        self.key_fields = tuple(key_fields)
        self._counts: dict[str, int] = {}
        self.errors_by_category: dict[str, int] = {}
        self.sample_errors: list[SampleError] = []
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

    # -- what happened to rows ---------------------------------------------------------------------

    def record_read(self, n: int = 1) -> None:
        """Count rows read from the source.

        :param n: how many.
        """
        with self._lock:
            self._add("total", n)

    def record_invalid(
        self, ref: RowRef, category: str, message: str, field: str | None = None, *, key: Key | None = None
    ) -> None:
        """A row refused before sending (mapping or validation): counted ``rejected``, written to
        the rejected file with stage ``validation``.

        :param ref: the row.
        :param category: a stable category (``INVALID_DATETIME``, ``MISSING_REQUIRED_FIELD``...).
        :param message: why, in words.
        :param field: the HubSpot field at fault, if known.
        :param key: the row's key when its ids were valid (shown in the sample errors).
        """
        self._error(ref, STAGE_VALIDATION, category, message, field, key)

    def record_refused(
        self, ref: RowRef, category: str, message: str, field: str | None = None, *, key: Key | None = None
    ) -> None:
        """A row HubSpot refused: counted ``failed``, written to the rejected file with stage
        ``hubspot``.

        :param ref: the row.
        :param category: HubSpot's category (``VALIDATION_ERROR``...) or ours for a request refused whole.
        :param message: why, in words.
        :param field: the HubSpot field at fault, if known.
        :param key: the row's key (shown in the sample errors).
        """
        self._error(ref, STAGE_HUBSPOT, category, message, field, key)

    def record_superseded(self, ref: RowRef, replaced_by: int, key: Key) -> None:
        """A row replaced by a later row with the same key: counted ``superseded`` and written to the
        rejected file (stage ``superseded``). Not an error: not in ``numErrors`` nor the samples.

        :param ref: the replaced row.
        :param replaced_by: the position of the row that replaced it.
        :param key: the shared key, for the message.
        """
        names = " and ".join(self.key_fields)
        ids = f" ({', '.join(repr(k) for k in key)})" if key else ""
        record = {
            "position": ref.position,
            "line": ref.line,
            "stage": STAGE_SUPERSEDED,
            "category": SUPERSEDED,
            "field": None,
            "message": f"replaced by row {replaced_by} with the same {names}{ids}",
            "replaced_by": replaced_by,
            "row": ref.original,
        }
        with self._lock:
            self._add("superseded")
            if self.rejected_writer is not None:
                self.rejected_writer.write(record)

    def record_written(
        self, ref: RowRef, key: Key, object_id: str | None, sent: Mapping[str, Any] | None = None
    ) -> None:
        """A row HubSpot confirmed (an event upserted, a participation recorded, an event deleted):
        counted ``upserted`` (the summary's name for it) and written to the results file.

        :param ref: the row.
        :param key: its key (the results line names each part).
        :param object_id: HubSpot's object id, when the response gave one.
        :param sent: what was sent for it; recorded as the line's ``sent`` (without the key's
            parts, already on the line) so a read-back can compare HubSpot's values with it later,
            without the input.
        """
        record: dict[str, Any] = {"position": ref.position}
        record.update(zip(self.key_fields, key, strict=False))
        record["objectId"] = object_id
        if sent is not None:
            record["sent"] = {name: value for name, value in sent.items() if name not in self.key_fields}
        with self._lock:
            self._add("upserted")
            if self.results_writer is not None:
                self.results_writer.write(record)

    #: The former name of :meth:`record_written`.
    record_upserted = record_written

    def record_unchanged(self, ref: RowRef, key: Key) -> None:
        """A row not sent because HubSpot already holds it as it is: counted ``unchanged``.

        :param ref: the row.
        :param key: its key.
        """
        with self._lock:
            self._add("unchanged")

    def record_would_send(self, n: int) -> None:
        """On a dry run, count rows that would have been sent (``would_upsert``).

        :param n: how many.
        """
        with self._lock:
            self._add("would_upsert", n)

    def record_batch(self, *, requests: int = 1, splits: int = 0) -> None:
        """Count a batch answered for every row, and what isolating its bad rows cost.

        :param requests: requests the batch took (1 unless it was split).
        :param splits: times it was halved because HubSpot did not say which rows were bad.
        """
        with self._lock:
            self._add("batches")
            self._add("splits", splits)
            self._add("isolation_requests", max(requests - 1, 0))

    def add_client_stats(self, stats: Mapping[str, int]) -> None:
        """Add the client's ``requests``, ``retries`` and ``rate_limited`` counters.

        :param stats: e.g. ``client.stats.snapshot()``.
        """
        with self._lock:
            for name in ("requests", "retries", "rate_limited"):
                self._add(name, int(stats.get(name, 0)))

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
        done = self.upserted + self.would_upsert + self.unchanged + self.num_errors + self.superseded
        return done == self.total

    def summary(self) -> UpsertSummary:
        """The bounded, JSON-safe summary pushed to XCom."""
        with self._lock:
            result: UpsertSummary = {
                "total": self.total,
                "upserted": self.upserted,
                "rejected": self.rejected,
                "failed": self.failed,
                "superseded": self.superseded,
                "numErrors": self.num_errors,
                "error_rate": self.error_rate,
                "errors_by_category": dict(sorted(self.errors_by_category.items())),
                "sample_errors": [_copy_sample(s) for s in self.sample_errors],
                "batches": self.batches,
                "splits": self.splits,
                "isolation_requests": self.isolation_requests,
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
            if self.unchanged:
                result["unchanged"] = self.unchanged
            return result

    # -- internals ---------------------------------------------------------------------------------

    def _add(self, name: str, n: int = 1) -> None:
        """Add to a counter (called under the lock)."""
        self._counts[name] = self._counts.get(name, 0) + n

    def _error(
        self, ref: RowRef, stage: str, category: str, message: str, field: str | None, key: Key | None
    ) -> None:
        record = {
            "position": ref.position,
            "line": ref.line,
            "stage": stage,
            "category": category,
            "field": field,
            "message": message,
            "row": ref.original,
        }
        with self._lock:
            self._add("rejected" if stage == STAGE_VALIDATION else "failed")
            self._count_category(category)
            self._sample(ref, stage, category, message, field, key)
            if self.rejected_writer is not None:
                self.rejected_writer.write(record)

    def _count_category(self, category: str) -> None:
        counts = self.errors_by_category
        if category not in counts and len(counts) >= MAX_CATEGORIES:
            category = "OTHER"
        counts[category] = counts.get(category, 0) + 1

    def _sample(
        self, ref: RowRef, stage: str, category: str, message: str, field: str | None, key: Key | None
    ) -> None:
        """Keep the first errors, but make room for a category not yet sampled."""
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
        sample: SampleError = {
            "position": ref.position,
            "line": ref.line,
            "stage": stage,
            "category": _cut(str(category), _FIELD_CHARS) or "",
            "field": _cut(field, _FIELD_CHARS),
            "message": _cut(str(message), _MESSAGE_CHARS) or "",
        }
        if key:
            sample["ids"] = {
                n: _cut(str(v), _FIELD_CHARS) or "" for n, v in zip(self.key_fields, key, strict=False)
            }
        self.sample_errors.append(sample)
        seen[category] = seen.get(category, 0) + 1


def _copy_sample(sample: SampleError) -> SampleError:
    copy: SampleError = {**sample}
    if "ids" in sample:
        copy["ids"] = dict(sample["ids"])
    return copy


UpsertReport = WriteReport
"""The former name of :class:`WriteReport` (events were the first kind), kept for existing code."""
