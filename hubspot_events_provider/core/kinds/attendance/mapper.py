"""Marketing-event attendance: fields, and :class:`AttendanceMapper` (map, normalise, validate rows).

A source row (a registration, an attendance or a cancellation exported from an event platform)
becomes one participation to record in HubSpot through :meth:`AttendanceMapper.map_row`. Like
:class:`~hubspot_events_provider.core.kinds.events.mapper.EventMapper`, the mapper never raises on bad
data: a row with errors has no payload and is never sent; unmapped source keys are refused before anything is
sent (:meth:`AttendanceMapper.unmapped_error`).

The normalised payload (JSON-able, what a spool stores) is::

    {"externalAccountId": str, "externalEventId": str, "subscriberState": "register" | "attend" | "cancel",
     "email": str  |  "vid": int (int64, never narrowed),
     "interactionDateTime": int (epoch milliseconds),
     "properties": {"joinedAt": str, "leftAt": str},      # attend only, when present
     "contactProperties": {name: str}}                     # email rows only, when present

The fields, their error categories and value normalisers are in :mod:`.fields`;
:func:`~.keys.hubspot_input` turns a payload into the HubSpot request input, :func:`~.keys.dedup_key`
and :func:`~.keys.group_key` say which rows supersede each other and which rows may share a request
(:mod:`.keys`); the write kind (:mod:`~hubspot_events_provider.core.kinds.attendance.kind`) orders requests by
:data:`STATE_ORDER` (``register`` < ``attend`` < ``cancel``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from hubspot_events_provider.core.errors import UnmappedFieldsError
from hubspot_events_provider.core.kinds.attendance.fields import (
    AMBIGUOUS_CONTACT,
    ATTEND_PROPERTIES,
    ATTENDANCE_FIELDS,
    CONTACT_PROPERTIES,
    FIELDS,
    INVALID_CONTACT_PROPERTY,
    LEFT_BEFORE_JOINED,
    PROPERTY_NOT_ALLOWED,
    STATE_ORDER,
    SUBSCRIBER_STATES,
    normalise_state,
    to_epoch_ms,
    to_vid,
    valid_email,
)
from hubspot_events_provider.core.kinds.attendance.keys import DedupKey, dedup_key, group_key, hubspot_input
from hubspot_events_provider.core.rows.mapping import (
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
    MISSING_REQUIRED_FIELD,
    ValueProblem,
    format_rfc3339,
    preview,
    resolve_timezone,
    to_string,
    to_utc_datetime,
)

# CONTACT_PROPERTIES, STATE_ORDER, SUBSCRIBER_STATES, group_key and hubspot_input live in .fields and
# .keys; they are re-exported for the modules that import them from here (the attendance kind and
# API, the attendance operator).
__all__ = [
    "CONTACT_PROPERTIES",
    "STATE_ORDER",
    "SUBSCRIBER_STATES",
    "AttendanceMapper",
    "MappedAttendance",
    "UnmappedAttendanceFieldsError",
    "group_key",
    "hubspot_input",
]

_NO_KEYS: frozenset[str] = frozenset()


class MappedAttendance(NamedTuple):
    """The result of :meth:`AttendanceMapper.map_row`.

    ``payload`` is the normalised participation (``None`` when ``errors`` is not empty); ``key`` is
    its :func:`dedup_key`; ``unmapped`` holds the row's source keys that map to no field.
    """

    payload: dict[str, Any] | None
    errors: list[RowError]
    key: DedupKey | None
    unmapped: frozenset[str] = frozenset()


class UnmappedAttendanceFieldsError(UnmappedFieldsError):
    """Source keys that map to no attendance field: refused rather than dropped silently.

    :param keys: the unmapped source keys.
    :param suggestions: key -> the field it probably meant.
    """

    field_noun = "attendance field"
    properties_parameter = "contact_properties"


def _problem(field: str, _src: str, problem: ValueProblem) -> RowError:
    """An attendance row error: the field and the problem (the message names no source column)."""
    return RowError(field, problem.category, problem.message)


# -- the mapper ------------------------------------------------------------------------------------

_REQUIRED = ("externalAccountId", "externalEventId", "subscriberState", "interactionDateTime")
_SCALARS = ATTENDANCE_FIELDS[:-1]


class AttendanceMapper(UnmappedKeyCheck):
    """Turn source rows into normalised attendance payloads (see the module docstring).

    :param field_map: source key -> attendance field. A source key equal to a field name maps to
        itself unless it is mapped elsewhere or ignored; an explicit mapping is read first and the
        same-named key is the fallback when the mapped value is empty.
    :param contact_properties: source keys sent as ``contactProperties`` (used by HubSpot only when
        ``email-create`` creates the contact): a list (the property name is the key) or a mapping
        source key -> HubSpot contact property name. Rows identified by ``vid`` name an existing
        contact, which HubSpot never updates, so their contact properties are not sent.
    :param defaults: field -> value used when the row's value is missing or empty (normalised once,
        here), e.g. ``{"externalAccountId": "acme", "subscriberState": "attend"}``.
    :param timezone: IANA zone of naive datetimes, dates and offset-less strings.
    :param ignore_fields: source keys deliberately not sent.
    :param ignore_unmapped: ignore every source key that maps to nothing (opt out of the check).
    :raises ValueError: an unknown field, a bad default, an unknown time zone.
    """

    field_names = FIELDS
    unmapped_error_class = UnmappedAttendanceFieldsError

    def __init__(
        self,
        *,
        field_map: Mapping[str, str] | None = None,
        contact_properties: Iterable[str] | Mapping[str, str] | str | None = None,
        defaults: Mapping[str, Any] | None = None,
        timezone: str = "UTC",
        ignore_fields: Iterable[str] | str | None = None,
        ignore_unmapped: bool = False,
    ) -> None:
        field_map = dict(field_map or {})
        plan = source_plan(FIELDS, field_map, ignore_fields, contact_properties, "contact_properties")
        self.tz = resolve_timezone(timezone)
        self.timezone = timezone
        self.ignore_unmapped = bool(ignore_unmapped)
        self.ignore_fields = plan.ignore_fields
        self._contact_columns = plan.columns
        self._sources = plan.sources
        self._known = plan.known
        self._converters: dict[str, Callable[[Any], Any]] = {
            "externalAccountId": to_string,
            "externalEventId": to_string,
            "subscriberState": normalise_state,
            "email": valid_email,
            "vid": to_vid,
            "interactionDateTime": lambda raw: to_epoch_ms(raw, self.tz),
            "joinedAt": lambda raw: to_utc_datetime(raw, self.tz),
            "leftAt": lambda raw: to_utc_datetime(raw, self.tz),
            CONTACT_PROPERTIES: self._row_contact,
        }
        self._defaults: dict[str, Any] = {}
        for field, raw in (defaults or {}).items():
            FIELDS.check_targets("defaults key", [field])
            try:
                value = self._converters[field](raw)
            except ValueProblem as exc:
                raise ValueError(f"defaults[{field!r}]: {exc.message}") from None
            if value is not None:
                self._defaults[field] = value

    @classmethod
    def validate_config(cls, **kwargs: Any) -> None:
        """Check mapping parameters early (e.g. at DAG parse time) without keeping a mapper.

        :param kwargs: the constructor's keyword arguments.
        :raises ValueError: as the constructor would.
        """
        cls(**kwargs)

    # -- mapping ---------------------------------------------------------------------------------

    def map_row(self, row: Any) -> MappedAttendance:
        """Map, normalise and validate one source row. Never raises on bad data.

        :param row: the source row (normally a dict; anything else is an ``INVALID_ROW``).
        """
        if not isinstance(row, Mapping):
            return MappedAttendance(None, [not_an_object(row)], None)
        errors: list[RowError] = []
        values: dict[str, Any] = {}
        failed: set[str] = set()
        for field in _SCALARS:
            self._read(row, field, values, failed, errors)
        errors.extend(
            self._missing(field) for field in _REQUIRED if field not in values and field not in failed
        )
        self._check_contact(values, failed, errors)
        self._check_attend_times(values, errors)
        contact_props = self._contact_props(row, errors) if "email" in values else None
        unmapped = (
            _NO_KEYS
            if self.ignore_unmapped or self._known.issuperset(row)
            else frozenset(self.unmapped_keys(row))
        )
        if errors:
            return MappedAttendance(None, errors, None, unmapped)
        payload = self._payload(values, contact_props)
        return MappedAttendance(payload, errors, dedup_key(payload), unmapped)

    def _read(
        self,
        row: Mapping[str, Any],
        field: str,
        values: dict[str, Any],
        failed: set[str],
        errors: list[RowError],
    ) -> None:
        """Set ``values[field]`` from the first non-empty source, else the default; record a problem."""
        convert = self._converters[field]
        for src in self._sources[field]:
            raw = row.get(src)
            if raw is None:
                continue
            try:
                value = convert(raw)
            except ValueProblem as exc:
                errors.append(RowError(field, exc.category, exc.message))
                failed.add(field)
                return
            if value is not None:
                values[field] = value
                return
        if field in self._defaults:
            values[field] = self._defaults[field]

    def _missing(self, field: str) -> RowError:
        return missing_field(field, self._sources[field])

    def _check_contact(self, values: dict[str, Any], failed: set[str], errors: list[RowError]) -> None:
        if "email" in values and "vid" in values:
            errors.append(
                RowError(
                    "vid",
                    AMBIGUOUS_CONTACT,
                    f"give exactly one of email or vid, got both: {preview(values['email'])} "
                    f"and {values['vid']}",
                )
            )
        elif "email" not in values and "vid" not in values and not failed & {"email", "vid"}:
            looked = ", ".join(repr(s) for s in (*self._sources["email"], *self._sources["vid"])) or "none"
            errors.append(
                RowError("email", MISSING_REQUIRED_FIELD, f"email or vid is required (source keys: {looked})")
            )

    @staticmethod
    def _check_attend_times(values: dict[str, Any], errors: list[RowError]) -> None:
        state = values.get("subscriberState")
        times = [name for name in ATTEND_PROPERTIES if name in values]
        if state is not None and state != "attend":
            errors.extend(
                RowError(name, PROPERTY_NOT_ALLOWED, f"{name} is allowed only for attend, not for {state}")
                for name in times
            )
            return
        problem = out_of_order(values, "joinedAt", "leftAt", LEFT_BEFORE_JOINED)
        if problem is not None:
            errors.append(problem)

    @staticmethod
    def _payload(values: dict[str, Any], contact_props: dict[str, str] | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "externalAccountId": values["externalAccountId"],
            "externalEventId": values["externalEventId"],
            "subscriberState": values["subscriberState"],
        }
        if "email" in values:
            payload["email"] = values["email"]
        else:
            payload["vid"] = values["vid"]
        payload["interactionDateTime"] = values["interactionDateTime"]
        times = {name: format_rfc3339(values[name]) for name in ATTEND_PROPERTIES if name in values}
        if times:
            payload["properties"] = times
        if contact_props:
            payload[CONTACT_PROPERTIES] = contact_props
        return payload

    # -- contact properties ----------------------------------------------------------------------

    def _contact_props(self, row: Mapping[str, Any], errors: list[RowError]) -> dict[str, str] | None:
        props, problems = gather_properties(
            row.get,
            self._sources[CONTACT_PROPERTIES],
            self._row_contact,
            self._contact_columns,
            self.tz,
            field=CONTACT_PROPERTIES,
            column_category=INVALID_CONTACT_PROPERTY,
            error=_problem,
        )
        errors.extend(problems)
        return props or self._defaults.get(CONTACT_PROPERTIES)

    def _row_contact(self, raw: Any) -> dict[str, str] | None:
        """A row's own ``contactProperties``: an object, a list of ``{name, value}``, or JSON text."""
        if isinstance(raw, str):
            raw = json_text(raw, category=INVALID_CONTACT_PROPERTY, field=CONTACT_PROPERTIES)
            if raw is None:
                return None
        pairs: Sequence[tuple[Any, Any]]
        if isinstance(raw, Mapping):
            pairs = list(raw.items())
        elif isinstance(raw, list | tuple) and all(isinstance(i, Mapping) and "name" in i for i in raw):
            pairs = [(i["name"], i.get("value")) for i in raw]
        else:
            raise ValueProblem(
                INVALID_CONTACT_PROPERTY,
                f"contactProperties must be an object or a list of {{name, value}}, got {preview(raw)}",
            )
        return property_map(pairs, self.tz, category=INVALID_CONTACT_PROPERTY, noun="contact property")
