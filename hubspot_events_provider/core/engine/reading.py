"""Pass 1 of a write: every row is read, mapped and validated; invalid rows are reported, valid ones
spooled (the last row of a key wins)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hubspot_events_provider.core.engine.options import RunContext
from hubspot_events_provider.core.engine.report import WriteReport
from hubspot_events_provider.core.engine.spool import RowSpool
from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.rows.identity import RowRef, WriteItem
from hubspot_events_provider.core.rows.sources import SourceRow

__all__ = ["read_and_validate"]


def read_and_validate(
    rows: Iterable[SourceRow],
    run: RunContext,
    spool: RowSpool,
    on_valid: Callable[[WriteItem], None] | None = None,
) -> None:
    """Pass 1: every row is read, mapped and validated; invalid ones are reported, valid ones spooled
    (and given to ``on_valid``, which may send them, while no unmapped key has been seen)."""
    counted = [0]
    try:
        unmapped = _validate_rows(rows, run, spool, counted, on_valid)
    finally:
        run.report.record_read(counted[0])  # once, not per row: the report's lock costs per call
    source = run.options.source
    if unmapped:
        raise run.kind.mapper.unmapped_error(sorted(unmapped), source=source, line=min(unmapped.values()))
    if counted[0] == 0 and not run.options.allow_empty:
        raise InputError(
            f"the input has no rows; nothing to {run.kind.words.verb}. "
            "Pass allow_empty=True when an empty input is normal.",
            source=source,
        )
    spool.finish()
    run.logger.debug("Spooled %d valid rows.", spool.winner_count)


def _validate_rows(
    rows: Iterable[SourceRow],
    run: RunContext,
    spool: RowSpool,
    counted: list[int],
    on_valid: Callable[[WriteItem], None] | None = None,
) -> dict[str, int]:
    """Map every row; return the unmapped source keys (with where each was first seen)."""
    mapper, report, source, route = run.kind.mapper, run.report, run.options.source, run.kind.route
    unmapped: dict[str, int] = {}
    checked_key_sets: set[tuple[str, ...]] = set()
    for row in rows:
        counted[0] += 1
        ref = RowRef(row.position, row.line, row.data, source)
        if isinstance(row.data, Mapping):
            keys = tuple(row.data)
            if keys not in checked_key_sets:
                for name in mapper.unmapped_keys(keys):
                    unmapped.setdefault(name, ref.where)
                if len(checked_key_sets) < 10_000:
                    checked_key_sets.add(keys)
        if unmapped:
            continue  # keep reading to name every unmapped key, but map nothing
        mapped = mapper.map_row(row.data)
        payload, key = mapped.payload, mapped.key
        if payload is None or key is None:
            _reject(ref, mapped.errors, key, report)
            continue
        group, phase = route(key, payload)
        spool.add(ref, key, payload, group=group, phase=phase)
        if on_valid is not None:
            on_valid(WriteItem(ref, key, payload, group, phase))
    return unmapped


def _reject(ref: RowRef, errors: Iterable[Any], key: Any, report: WriteReport) -> None:
    problems = list(errors)
    if not problems:
        report.record_invalid(ref, "INVALID_ROW", "row refused", key=key)
        return
    first = problems[0]
    message = "; ".join(p.message for p in problems)
    report.record_invalid(ref, first.category, message, first.field, key=key)
