"""Configuration checks on the first rows: a required field that no row can have is one error.

When no source key maps to a required HubSpot field (``externalAccountId``...) and ``defaults``
gives it no value, every row would be rejected with the same ``MISSING_REQUIRED_FIELD``: that is a
configuration mistake, not 41 row errors, and a run that ends green with 0 sent hides it.
:func:`check_required_sources` wraps a row stream and raises :class:`MissingSourceError` once:

- for sources with fixed columns (a CSV header, a SQL cursor's description) at the first row, before
  reading on: every row has the same keys;
- for sources whose rows may differ (JSON, JSON Lines, XCom), at the end of the input when no row had
  any source key of the field (one row that has it is enough to make it a row-level matter).

Either way it is raised during the read-and-validate pass, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.kinds.events.mapper import (
    REQUIRED_FIELDS,
    EventMapper,
    suggest_field,
)
from hubspot_events_provider.core.rows.sources import SourceRow

__all__ = ["MissingSourceError", "check_required_sources", "unreachable_fields"]

_KEYS_SHOWN = 12


class MissingSourceError(InputError):
    """A configuration error: no source key maps to a required field and it has no default.

    :param fields: the required HubSpot fields no row can have.
    :param looked_for: field -> the source keys that would have been read.
    :param keys: the source's keys (CSV header, cursor columns, first row's keys).
    """

    def __init__(
        self,
        fields: list[str],
        looked_for: Mapping[str, tuple[str, ...]],
        keys: Iterable[str],
        *,
        source: str | None = None,
        line: int | None = None,
    ) -> None:
        self.fields = list(fields)
        self.looked_for = dict(looked_for)
        self.keys = [str(k) for k in keys]
        super().__init__(self._message(), source=source, line=line)

    def _message(self) -> str:
        names = ", ".join(self.fields)
        looked = "; ".join(
            f"{f}: {', '.join(repr(k) for k in self.looked_for.get(f, ())) or 'no key'}" for f in self.fields
        )
        shown = ", ".join(repr(k) for k in self.keys[:_KEYS_SHOWN])
        more = f" and {len(self.keys) - _KEYS_SHOWN} more" if len(self.keys) > _KEYS_SHOWN else ""
        example = self.fields[0]
        plural, them = ("s", "them") if len(self.fields) > 1 else ("", "it")
        hints = {k: f for k in self.keys if (f := suggest_field(k)) in self.fields and f != k}
        hint = f" Did you mean field_map={hints!r}?" if hints else ""
        return (
            f"configuration error: no source key maps to the required field{plural} "
            f"{names} and defaults gives {them} no value, so every row "
            f"would be rejected (looked for {looked}; the source has {shown or 'no keys'}{more}). Map a "
            f"column with field_map={{'<column>': {example!r}}} or set defaults={{{example!r}: '...'}}.{hint}"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.fields, self.looked_for, self.keys, self.source, self.line))


def _rebuild(
    fields: list[str],
    looked_for: dict[str, tuple[str, ...]],
    keys: list[str],
    source: str | None,
    line: int | None,
) -> MissingSourceError:
    return MissingSourceError(fields, looked_for, keys, source=source, line=line)


def unreachable_fields(mapper: EventMapper, keys: Iterable[str]) -> list[str]:
    """The required fields that rows with these keys can never have (no source key, no default).

    :param mapper: the run's mapper.
    :param keys: a row's keys, a CSV header or cursor column names.
    """
    present = set(keys)
    return [
        field
        for field in REQUIRED_FIELDS
        if not mapper.has_default(field) and not present.intersection(mapper.source_keys(field))
    ]


def check_required_sources(
    rows: Iterable[SourceRow], mapper: EventMapper, *, source: str, fixed_columns: bool
) -> Iterator[SourceRow]:
    """Yield ``rows`` unchanged; raise :class:`MissingSourceError` when a required field is unreachable.

    :param rows: the source rows.
    :param mapper: the run's mapper (its ``field_map`` and ``defaults``).
    :param source: the input's name, for the message.
    :param fixed_columns: every row has the same keys (CSV, SQL): decide at the first row.
    """
    missing: list[str] | None = None
    first_keys: list[str] = []
    first_line: int | None = None
    iterator = iter(rows)
    for row in iterator:
        if not isinstance(row.data, Mapping):
            yield row
            continue
        if missing is None:
            first_keys = [str(k) for k in row.data]
            first_line = row.line if row.line is not None else row.position
            # Unmapped keys (a typo such as 'eventNme') get the runner's more precise error, with
            # its did-you-mean suggestions, before anything is sent: leave them to it.
            missing = [] if mapper.unmapped_keys(first_keys) else unreachable_fields(mapper, first_keys)
            if missing and fixed_columns:
                raise _error(mapper, missing, first_keys, source, first_line)
        elif missing:
            missing = [f for f in missing if not set(row.data).intersection(mapper.source_keys(f))]
        yield row
        if missing is not None and not missing:
            yield from iterator  # every required field is reachable: no more per-row work
            return
    if missing:
        raise _error(mapper, missing, first_keys, source, first_line)


def _error(
    mapper: EventMapper, fields: list[str], keys: list[str], source: str, line: int | None
) -> MissingSourceError:
    looked = {f: mapper.source_keys(f) for f in fields}
    return MissingSourceError(fields, looked, keys, source=source, line=line)
