"""The HubSpot marketing event model: fields, and :class:`EventMapper` (map, normalise, validate rows).

A source row (a dict from JSON, CSV, a cursor or an XCom) becomes the HubSpot upsert input through
:meth:`EventMapper.map_row`. The mapper never raises on bad data: it returns a :class:`MappedRow`
whose ``errors`` say which field is wrong and why (stable categories from
:mod:`hubspot_events_provider.core.normalize`); a row with errors has no payload and is never sent.

Source keys that map to no HubSpot field are reported in ``MappedRow.unmapped`` and by
:meth:`EventMapper.unmapped_keys`; the runner refuses the whole run with
:meth:`EventMapper.unmapped_error` before sending anything, so no column is ever dropped silently.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from hubspot_events_provider.core.errors import UnmappedFieldsError
from hubspot_events_provider.core.normalize import (
    END_BEFORE_START,
    INVALID_BOOLEAN,
    INVALID_CUSTOM_PROPERTY,
    INVALID_DATETIME,
    INVALID_ROW,
    INVALID_TYPE,
    MAX_STRING_LENGTH,
    MISSING_REQUIRED_FIELD,
    VALUE_TOO_LONG,
    ValueProblem,
    check_date_format,
    format_rfc3339,
    preview,
    resolve_timezone,
    to_bool,
    to_custom_value,
    to_string,
    to_utc_datetime,
)

__all__ = [
    "BOOLEAN_FIELDS",
    "DATETIME_FIELDS",
    "END_BEFORE_START",
    "ERROR_CATEGORIES",
    "HUBSPOT_FIELDS",
    "INVALID_BOOLEAN",
    "INVALID_CUSTOM_PROPERTY",
    "INVALID_DATETIME",
    "INVALID_ROW",
    "INVALID_TYPE",
    "MAX_STRING_LENGTH",
    "MISSING_REQUIRED_FIELD",
    "REQUIRED_FIELDS",
    "STRING_FIELDS",
    "VALUE_TOO_LONG",
    "EventMapper",
    "MappedRow",
    "RowError",
    "suggest_field",
]

REQUIRED_FIELDS = ("externalAccountId", "externalEventId", "eventName", "eventOrganizer")
STRING_FIELDS = ("eventType", "eventDescription", "eventUrl")
DATETIME_FIELDS = ("startDateTime", "endDateTime")
BOOLEAN_FIELDS = ("eventCancelled", "eventCompleted")
CUSTOM_PROPERTIES = "customProperties"
#: Every field of HubSpot's ``MarketingEventCreateRequestParams``, in payload order.
HUBSPOT_FIELDS = (*REQUIRED_FIELDS, *STRING_FIELDS, *DATETIME_FIELDS, *BOOLEAN_FIELDS, CUSTOM_PROPERTIES)
ERROR_CATEGORIES = frozenset(
    {
        MISSING_REQUIRED_FIELD,
        INVALID_TYPE,
        INVALID_DATETIME,
        END_BEFORE_START,
        INVALID_BOOLEAN,
        INVALID_CUSTOM_PROPERTY,
        VALUE_TOO_LONG,
        INVALID_ROW,
    }
)
_FIELD_BY_LOWER = {f.lower(): f for f in HUBSPOT_FIELDS}
_NO_KEYS: frozenset[str] = frozenset()


class RowError(NamedTuple):
    """One problem with one row: the HubSpot field (``None`` for the whole row), category, message."""

    field: str | None
    category: str
    message: str


class MappedRow(NamedTuple):
    """The result of :meth:`EventMapper.map_row`.

    ``payload`` is the HubSpot input (``None`` when ``errors`` is not empty); ``key`` is
    ``(externalAccountId, externalEventId)`` when both are valid; ``unmapped`` holds the row's source
    keys that map to no HubSpot field (always empty with ``ignore_unmapped``).
    """

    payload: dict[str, Any] | None
    errors: list[RowError]
    key: tuple[str, str] | None
    unmapped: frozenset[str] = frozenset()


_new_mapped = tuple.__new__  # builds a MappedRow without the NamedTuple keyword handling (hot path)


def _bad_value(field: str, src: str, problem: ValueProblem) -> RowError:
    """A row error naming the HubSpot field and, when it differs, the source column it came from."""
    where = field if src == field or field.endswith(f".{src}") else f"{field} (from column {src!r})"
    return RowError(field, problem.category, f"{where}: {problem.message}")


def suggest_field(name: str) -> str | None:
    """Return the HubSpot field a mistyped name probably meant (``eventDescripton`` -> ``eventDescription``).

    :param name: a source key or a field name.
    """
    lowered = name.lower()
    if lowered in _FIELD_BY_LOWER:
        return _FIELD_BY_LOWER[lowered]
    close = difflib.get_close_matches(lowered, list(_FIELD_BY_LOWER), n=1, cutoff=0.8)
    return _FIELD_BY_LOWER[close[0]] if close else None


def _check_targets(kind: str, names: Iterable[str]) -> None:
    bad = sorted(str(n) for n in names if n not in HUBSPOT_FIELDS)
    if not bad:
        return
    hints = [f"{b!r} -> {s!r}" for b in bad if (s := suggest_field(b))]
    hint = f" Did you mean {', '.join(hints)}?" if hints else ""
    raise ValueError(
        f"{kind} {', '.join(repr(b) for b in bad)} {'is not a' if len(bad) == 1 else 'are not'} "
        f"HubSpot event field{'s' if len(bad) > 1 else ''}.{hint} "
        f"HubSpot fields: {', '.join(HUBSPOT_FIELDS)}."
    )


def _as_key_list(value: Iterable[str] | str | None, what: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or not item:
            raise ValueError(f"{what} must hold non-empty strings, got {preview(item)}")
    return items


def _datetime_converter(tz: dt.tzinfo, date_format: str | None = None) -> Callable[[Any], dt.datetime | None]:
    """A date/time normaliser with an inline fast path for extended ISO 8601 strings."""
    if date_format is not None:  # the format is tried first, so no ISO fast path in front of it
        return lambda raw: to_utc_datetime(raw, tz, date_format)
    fromisoformat = dt.datetime.fromisoformat
    utc = dt.UTC

    def convert(raw: Any) -> dt.datetime | None:
        if raw.__class__ is str and raw[4:5] == "-":
            try:
                parsed = fromisoformat(raw)
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=tz)
                return parsed.astimezone(utc)
            except (ValueError, OverflowError):
                pass  # the full path below explains the problem
        return to_utc_datetime(raw, tz)

    return convert


class EventMapper:
    """Turn source rows into HubSpot marketing event inputs.

    :param field_map: source key -> HubSpot field. A source key equal to a HubSpot field name maps
        to itself unless it is mapped elsewhere or ignored; an explicit mapping is read first and the
        same-named key is the fallback when the mapped value is empty.
    :param custom_properties: source keys sent as ``customProperties`` ``{name, value}``: a list
        (the property name is the key) or a mapping source key -> HubSpot property name.
    :param defaults: HubSpot field -> value used when the row's value is missing or empty
        (normalised once, here).
    :param timezone: IANA zone of naive datetimes, dates and offset-less strings.
    :param date_format: optional ``strptime`` format tried first for date/time strings of
        ``startDateTime``/``endDateTime`` (e.g. ``"%d/%m/%Y %H:%M"`` for day-first dates).
    :param ignore_fields: source keys deliberately not sent.
    :param ignore_unmapped: ignore every source key that maps to nothing (opt out of the check).
    :raises ValueError: an unknown HubSpot field, a bad default, an unknown time zone.
    """

    def __init__(
        self,
        *,
        field_map: Mapping[str, str] | None = None,
        custom_properties: Iterable[str] | Mapping[str, str] | str | None = None,
        defaults: Mapping[str, Any] | None = None,
        timezone: str = "UTC",
        ignore_fields: Iterable[str] | str | None = None,
        ignore_unmapped: bool = False,
        date_format: str | None = None,
    ) -> None:
        field_map = dict(field_map or {})
        self.date_format = check_date_format(date_format) if date_format is not None else None
        _as_key_list(list(field_map), "field_map keys")
        _check_targets("field_map target", field_map.values())
        self.tz = resolve_timezone(timezone)
        self.timezone = timezone
        self.ignore_unmapped = bool(ignore_unmapped)
        self.ignore_fields = frozenset(_as_key_list(ignore_fields, "ignore_fields"))
        contradictory = sorted(self.ignore_fields & set(field_map))
        if contradictory:
            raise ValueError(f"keys {contradictory} are both in field_map and in ignore_fields")

        if isinstance(custom_properties, Mapping):
            pairs = [(str(k), str(v)) for k, v in custom_properties.items()]
            _as_key_list([p for pair in pairs for p in pair], "custom_properties")
        else:
            pairs = [(k, k) for k in _as_key_list(custom_properties, "custom_properties")]
        self._custom_columns: tuple[tuple[str, str], ...] = tuple(pairs)

        self._sources: dict[str, tuple[str, ...]] = {}
        for field in HUBSPOT_FIELDS:
            sources = [src for src, target in field_map.items() if target == field]
            if field not in field_map and field not in self.ignore_fields and field not in sources:
                sources.append(field)
            self._sources[field] = tuple(sources)

        self._defaults: dict[str, Any] = {}
        self._default_custom: dict[str, str] = {}
        if defaults:
            _check_targets("defaults key", defaults)
            for field, raw in defaults.items():
                try:
                    value = self._normalise(field, raw)
                except ValueProblem as exc:
                    raise ValueError(f"defaults[{field!r}]: {exc.message}") from None
                if field == CUSTOM_PROPERTIES:
                    self._default_custom = value or {}
                elif value is not None:
                    self._defaults[field] = value

        self._known = frozenset(
            {s for sources in self._sources.values() for s in sources}
            | {src for src, _ in self._custom_columns}
            | self.ignore_fields
            | set(field_map)
        )
        # One plan for every scalar field: (field, source keys in order, normaliser, required).
        self._plan: tuple[tuple[str, tuple[str, ...], Callable[[Any], Any], bool], ...] = tuple(
            (f, self._sources[f], self._converter(f), f in REQUIRED_FIELDS)
            for f in (*REQUIRED_FIELDS, *STRING_FIELDS, *DATETIME_FIELDS, *BOOLEAN_FIELDS)
        )

    @classmethod
    def validate_config(
        cls,
        *,
        field_map: Mapping[str, str] | None = None,
        custom_properties: Iterable[str] | Mapping[str, str] | str | None = None,
        defaults: Mapping[str, Any] | None = None,
        timezone: str = "UTC",
        ignore_fields: Iterable[str] | str | None = None,
        date_format: str | None = None,
    ) -> None:
        """Check mapping parameters early (e.g. at DAG parse time) without keeping a mapper.

        :raises ValueError: as the constructor would.
        """
        cls(
            field_map=field_map,
            custom_properties=custom_properties,
            defaults=defaults,
            timezone=timezone,
            ignore_fields=ignore_fields,
            date_format=date_format,
        )

    def source_keys(self, field: str) -> tuple[str, ...]:
        """The source keys read for a HubSpot field, in order (``field_map`` entries, then the
        same-named key unless it is mapped elsewhere or ignored).

        :param field: a HubSpot field name, e.g. ``externalAccountId``.
        """
        return self._sources.get(field, ())

    def has_default(self, field: str) -> bool:
        """Whether ``defaults`` gives the HubSpot field a value when a row has none.

        :param field: a HubSpot field name.
        """
        return field in self._defaults

    # -- normalisation ---------------------------------------------------------------------------

    def _converter(self, field: str) -> Callable[[Any], Any]:
        if field in DATETIME_FIELDS:
            return _datetime_converter(self.tz, self.date_format)
        if field in BOOLEAN_FIELDS:
            return to_bool
        if field == CUSTOM_PROPERTIES:
            return self._row_custom
        return to_string

    def _normalise(self, field: str, raw: Any) -> Any:
        return self._converter(field)(raw)

    def _row_custom(self, raw: Any) -> dict[str, str] | None:
        """Normalise a row's own ``customProperties``: list of ``{name, value}``, dict, or JSON text."""
        if isinstance(raw, str):
            text = raw.strip()
            if not text:
                return None
            try:
                raw = json.loads(text)
            except ValueError:
                raise ValueProblem(
                    INVALID_CUSTOM_PROPERTY, f"customProperties text is not JSON: {preview(raw)}"
                ) from None
        items: Iterable[tuple[Any, Any]]
        if raw is None:
            return None
        if isinstance(raw, Mapping):
            items = raw.items()
        elif isinstance(raw, list | tuple):
            pairs = []
            for item in raw:
                if not isinstance(item, Mapping) or "name" not in item:
                    raise ValueProblem(
                        INVALID_CUSTOM_PROPERTY,
                        "each customProperties item must be an object with name and value, "
                        f"got {preview(item)}",
                    )
                pairs.append((item["name"], item.get("value")))
            items = pairs
        else:
            raise ValueProblem(
                INVALID_CUSTOM_PROPERTY,
                f"customProperties must be a list of {{name, value}} or an object, got {preview(raw)}",
            )
        result: dict[str, str] = {}
        for name, value in items:
            if not isinstance(name, str) or not name.strip():
                raise ValueProblem(
                    INVALID_CUSTOM_PROPERTY, f"custom property name {preview(name)} is not valid"
                )
            prop_value = to_custom_value(value, self.tz)
            if prop_value is not None:
                result[name.strip()] = prop_value
        return result or None

    # -- unmapped keys ---------------------------------------------------------------------------

    def unmapped_keys(self, keys: Iterable[Any]) -> set[str]:
        """Return the source keys that map to no HubSpot field (empty with ``ignore_unmapped``).

        :param keys: source keys (a row, its ``keys()``, a CSV header, cursor column names).
        """
        if self.ignore_unmapped or self._known.issuperset(keys):
            return set()
        return {str(k) for k in keys if k not in self._known}

    def unmapped_error(
        self, keys: Iterable[Any], *, source: str | None = None, line: int | None = None
    ) -> UnmappedFieldsError:
        """Build the error refusing these unmapped keys, with did-you-mean hints for likely typos.

        :param keys: the unmapped source keys.
        :param source: the input they came from.
        :param line: the first line where one was seen.
        """
        names = sorted({str(k) for k in keys})
        hints = {k: s for k in names if (s := suggest_field(k)) is not None}
        return UnmappedFieldsError(names, source=source, line=line, suggestions=hints)

    # -- mapping ---------------------------------------------------------------------------------

    def map_row(self, row: Any) -> MappedRow:
        """Map, normalise and validate one source row. Never raises on bad data.

        :param row: the source row (normally a dict; anything else is an ``INVALID_ROW``).
        """
        if not isinstance(row, Mapping):
            return MappedRow(
                None, [RowError(None, INVALID_ROW, f"expected an object, got {type(row).__name__}")], None
            )
        errors: list[RowError] = []
        payload: dict[str, Any] = {}
        get = row.get
        defaults = self._defaults
        for field, sources, convert, required in self._plan:
            for src in sources:
                raw = get(src)
                if raw is None:
                    continue
                try:
                    value = convert(raw)
                except ValueProblem as exc:
                    errors.append(_bad_value(field, src, exc))
                    break
                if value is not None:
                    payload[field] = value
                    break
            else:
                if field in defaults:
                    payload[field] = defaults[field]
                elif required:
                    errors.append(self._missing(field))
        self._finish_dates(payload, errors)
        self._map_custom(get, payload, errors)
        account = payload.get("externalAccountId")
        event = payload.get("externalEventId")
        key = (account, event) if account and event else None
        found = self.unmapped_keys(row)
        unmapped = frozenset(found) if found else _NO_KEYS
        return _new_mapped(MappedRow, (None if errors else payload, errors, key, unmapped))

    def _missing(self, field: str) -> RowError:
        looked = ", ".join(repr(s) for s in self._sources[field]) or "none"
        return RowError(field, MISSING_REQUIRED_FIELD, f"{field} is required (source keys: {looked})")

    @staticmethod
    def _finish_dates(payload: dict[str, Any], errors: list[RowError]) -> None:
        start: dt.datetime | None = payload.get("startDateTime")
        end: dt.datetime | None = payload.get("endDateTime")
        if start is not None and end is not None and end < start:
            errors.append(
                RowError(
                    "endDateTime",
                    END_BEFORE_START,
                    f"endDateTime {format_rfc3339(end)} is before startDateTime {format_rfc3339(start)}",
                )
            )
        if start is not None:
            payload["startDateTime"] = format_rfc3339(start)
        if end is not None:
            payload["endDateTime"] = format_rfc3339(end)

    def _map_custom(self, get: Callable[[str], Any], payload: dict[str, Any], errors: list[RowError]) -> None:
        props: dict[str, str] | None = None
        for src in self._sources[CUSTOM_PROPERTIES]:
            raw = get(src)
            if raw is None:
                continue
            try:
                props = self._row_custom(raw)
            except ValueProblem as exc:
                errors.append(_bad_value(CUSTOM_PROPERTIES, src, exc))
                return
            if props:
                break
        tz = self.tz
        for src, name in self._custom_columns:
            raw = get(src)
            if raw is None:
                continue
            try:
                text = to_custom_value(raw, tz)
            except ValueProblem as exc:
                category = INVALID_CUSTOM_PROPERTY if exc.category != VALUE_TOO_LONG else VALUE_TOO_LONG
                errors.append(
                    _bad_value(f"{CUSTOM_PROPERTIES}.{name}", src, ValueProblem(category, exc.message))
                )
                continue
            if text is not None:
                if props is None:
                    props = {}
                props[name] = text
        if not props:
            props = self._default_custom
        if props:
            payload[CUSTOM_PROPERTIES] = [{"name": n, "value": v} for n, v in props.items()]
