"""The HubSpot marketing event model: fields, and :class:`EventMapper` (map, normalise, validate rows).

A source row (a dict from JSON, CSV, a cursor or an XCom) becomes the HubSpot upsert input through
:meth:`EventMapper.map_row`. The mapper never raises on bad data: it returns a :class:`MappedRow`
whose ``errors`` say which field is wrong and why (stable categories from
:mod:`hubspot_events_provider.core.rows.normalize`); a row with errors has no payload and is never sent.

Source keys that map to no HubSpot field are reported in ``MappedRow.unmapped`` and by
:meth:`EventMapper.unmapped_keys`; the runner refuses the whole run with
:meth:`EventMapper.unmapped_error` before sending anything, so no column is ever dropped silently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from hubspot_events_provider.core.rows.mapping import (
    FieldNames,
    RowError,
    UnmappedKeyCheck,
    gather_properties,
    json_text,
    missing_field,
    not_an_object,
    out_of_order,
    property_map,
    source_plan,
)
from hubspot_events_provider.core.rows.normalize import (
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
_FIELDS = FieldNames(
    HUBSPOT_FIELDS, noun="a HubSpot event field", listing="HubSpot fields", fold_underscores=False
)
_NO_KEYS: frozenset[str] = frozenset()


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
    return _FIELDS.suggest(name)


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


class EventMapper(UnmappedKeyCheck):
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

    field_names = _FIELDS

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
        plan = source_plan(_FIELDS, field_map, ignore_fields, custom_properties, "custom_properties")
        self.tz = resolve_timezone(timezone)
        self.timezone = timezone
        self.ignore_unmapped = bool(ignore_unmapped)
        self.ignore_fields = plan.ignore_fields
        self._custom_columns = plan.columns
        self._sources = plan.sources
        self._known = plan.known

        self._defaults: dict[str, Any] = {}
        self._default_custom: dict[str, str] = {}
        if defaults:
            _FIELDS.check_targets("defaults key", defaults)
            for field, raw in defaults.items():
                try:
                    value = self._normalise(field, raw)
                except ValueProblem as exc:
                    raise ValueError(f"defaults[{field!r}]: {exc.message}") from None
                if field == CUSTOM_PROPERTIES:
                    self._default_custom = value or {}
                elif value is not None:
                    self._defaults[field] = value

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
        raw = json_text(raw, category=INVALID_CUSTOM_PROPERTY, field=CUSTOM_PROPERTIES)
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
        return property_map(items, self.tz, category=INVALID_CUSTOM_PROPERTY, noun="custom property")

    # -- mapping ---------------------------------------------------------------------------------

    def map_row(self, row: Any) -> MappedRow:
        """Map, normalise and validate one source row. Never raises on bad data.

        :param row: the source row (normally a dict; anything else is an ``INVALID_ROW``).
        """
        if not isinstance(row, Mapping):
            return MappedRow(None, [not_an_object(row)], None)
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
        return missing_field(field, self._sources[field])

    @staticmethod
    def _finish_dates(payload: dict[str, Any], errors: list[RowError]) -> None:
        problem = out_of_order(payload, "startDateTime", "endDateTime", END_BEFORE_START)
        if problem is not None:
            errors.append(problem)
        start: dt.datetime | None = payload.get("startDateTime")
        end: dt.datetime | None = payload.get("endDateTime")
        if start is not None:
            payload["startDateTime"] = format_rfc3339(start)
        if end is not None:
            payload["endDateTime"] = format_rfc3339(end)

    def _map_custom(self, get: Callable[[str], Any], payload: dict[str, Any], errors: list[RowError]) -> None:
        props, problems = gather_properties(
            get,
            self._sources[CUSTOM_PROPERTIES],
            self._row_custom,
            self._custom_columns,
            self.tz,
            field=CUSTOM_PROPERTIES,
            column_category=INVALID_CUSTOM_PROPERTY,
            error=_bad_value,
        )
        errors.extend(problems)  # with errors the row has no payload, so the map below is moot
        props = props or self._default_custom
        if props:
            payload[CUSTOM_PROPERTIES] = [{"name": n, "value": v} for n, v in props.items()]
