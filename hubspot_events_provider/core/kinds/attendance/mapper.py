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

:func:`hubspot_input` turns it into the HubSpot request input; :func:`dedup_key` and
:func:`group_key` say which rows supersede each other and which rows may share a request; the
write kind (:mod:`~hubspot_events_provider.core.kinds.attendance.kind`) orders requests by
:data:`STATE_ORDER` (``register`` < ``attend`` < ``cancel``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from hubspot_events_provider.core.errors import UnmappedFieldsError
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
    INVALID_DATETIME,
    INVALID_ROW,
    INVALID_TYPE,
    MISSING_REQUIRED_FIELD,
    VALUE_TOO_LONG,
    ValueProblem,
    format_rfc3339,
    preview,
    resolve_timezone,
    to_string,
    to_utc_datetime,
)

__all__ = [
    "AMBIGUOUS_CONTACT",
    "ATTENDANCE_ERROR_CATEGORIES",
    "ATTENDANCE_FIELDS",
    "ATTEND_PROPERTIES",
    "INVALID_CONTACT_ID",
    "INVALID_CONTACT_PROPERTY",
    "INVALID_EMAIL",
    "INVALID_SUBSCRIBER_STATE",
    "LEFT_BEFORE_JOINED",
    "MAX_REQUEST_INPUTS",
    "PROPERTY_NOT_ALLOWED",
    "STATE_ORDER",
    "SUBSCRIBER_STATES",
    "AttendanceMapper",
    "MappedAttendance",
    "UnmappedAttendanceFieldsError",
    "dedup_key",
    "group_key",
    "hubspot_input",
    "normalise_state",
    "suggest_attendance_field",
    "to_epoch_ms",
    "to_vid",
    "valid_email",
]

# Stable error categories of attendance rows (besides the shared ones of core.normalize).
INVALID_EMAIL = "INVALID_EMAIL"
INVALID_SUBSCRIBER_STATE = "INVALID_SUBSCRIBER_STATE"
INVALID_CONTACT_ID = "INVALID_CONTACT_ID"
AMBIGUOUS_CONTACT = "AMBIGUOUS_CONTACT"
PROPERTY_NOT_ALLOWED = "PROPERTY_NOT_ALLOWED"
LEFT_BEFORE_JOINED = "LEFT_BEFORE_JOINED"
INVALID_CONTACT_PROPERTY = "INVALID_CONTACT_PROPERTY"
ATTENDANCE_ERROR_CATEGORIES = frozenset(
    {
        MISSING_REQUIRED_FIELD,
        INVALID_TYPE,
        INVALID_DATETIME,
        VALUE_TOO_LONG,
        INVALID_ROW,
        INVALID_EMAIL,
        INVALID_SUBSCRIBER_STATE,
        INVALID_CONTACT_ID,
        AMBIGUOUS_CONTACT,
        PROPERTY_NOT_ALLOWED,
        LEFT_BEFORE_JOINED,
        INVALID_CONTACT_PROPERTY,
    }
)

SUBSCRIBER_STATES = ("register", "attend", "cancel")
#: Send order within one event and contact: a registration before the attendance before a cancellation.
STATE_ORDER = {state: rank for rank, state in enumerate(SUBSCRIBER_STATES)}
ATTEND_PROPERTIES = ("joinedAt", "leftAt")
CONTACT_PROPERTIES = "contactProperties"
#: Every field a source row can map to, in payload order.
ATTENDANCE_FIELDS = (
    "externalAccountId",
    "externalEventId",
    "subscriberState",
    "email",
    "vid",
    "interactionDateTime",
    *ATTEND_PROPERTIES,
    CONTACT_PROPERTIES,
)
#: HubSpot's limit of inputs per attendance request (as for every batch operation).
MAX_REQUEST_INPUTS = 100
MAX_INT64 = 2**63 - 1
_MAX_EXACT_FLOAT = 2**53
_MAX_EMAIL = 254
# local@domain.tld: one @, no blanks, at least one dot in the domain, no empty domain labels.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
_STATE_ALIASES = {
    "register": "register",
    "registered": "register",
    "attend": "attend",
    "attended": "attend",
    "cancel": "cancel",
    "cancelled": "cancel",
    "canceled": "cancel",
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_MS = dt.timedelta(milliseconds=1)
_FIELDS = FieldNames(ATTENDANCE_FIELDS, noun="an attendance field", listing="Fields", fold_underscores=True)
_NO_KEYS: frozenset[str] = frozenset()

DedupKey = tuple[str, str, str, str]
GroupKey = tuple[str, str, str, str]
T = TypeVar("T")


class MappedAttendance(NamedTuple):
    """The result of :meth:`AttendanceMapper.map_row`.

    ``payload`` is the normalised participation (``None`` when ``errors`` is not empty); ``key`` is
    its :func:`dedup_key`; ``unmapped`` holds the row's source keys that map to no field.
    """

    payload: dict[str, Any] | None
    errors: list[RowError]
    key: DedupKey | None
    unmapped: frozenset[str] = frozenset()


# -- value helpers ---------------------------------------------------------------------------------


def normalise_state(value: Any) -> str | None:
    """``register`` / ``attend`` / ``cancel`` from any case of those or of HubSpot's
    ``REGISTERED`` / ``ATTENDED`` / ``CANCELLED``; ``None`` for an empty value.

    :raises ValueProblem: ``INVALID_SUBSCRIBER_STATE`` or ``INVALID_TYPE``.
    """
    text = to_string(value)
    if text is None:
        return None
    state = _STATE_ALIASES.get(text.casefold())
    if state is None:
        raise ValueProblem(
            INVALID_SUBSCRIBER_STATE,
            f"subscriberState must be register, attend or cancel (or REGISTERED, ATTENDED, CANCELLED), "
            f"got {preview(value)}",
        )
    return state


def valid_email(value: Any) -> str | None:
    """A stripped email address after a syntax check; ``None`` for an empty value.

    :raises ValueProblem: ``INVALID_EMAIL`` or ``INVALID_TYPE``.
    """
    text = to_string(value)
    if text is None:
        return None
    if len(text) > _MAX_EMAIL or not _EMAIL.match(text):
        raise ValueProblem(INVALID_EMAIL, f"not a valid email address: {preview(value)}")
    return text


def to_vid(value: Any) -> int | None:
    """A HubSpot contact id as an exact int64 (never narrowed); ``None`` for an empty value.

    Accepts integers, digit strings, integral Decimals and integral floats below 2^53 (a float
    above that may already have lost digits, so it is refused rather than guessed).

    :raises ValueProblem: ``INVALID_CONTACT_ID``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = _exact_int(value)
    if number is None or not 0 < number <= MAX_INT64:
        raise ValueProblem(
            INVALID_CONTACT_ID, f"vid must be a positive 64-bit integer contact id, got {preview(value)}"
        )
    return number


def _exact_int(value: Any) -> int | None:
    """The integer a value holds exactly, or ``None`` (booleans, fractions, floats beyond 2^53...)."""
    exact = False
    if isinstance(value, int):
        exact = not isinstance(value, bool)
    elif isinstance(value, str):
        text = value.strip()
        return int(text) if text.isascii() and text.isdigit() else None
    elif isinstance(value, Decimal):
        exact = value.is_finite() and value == value.to_integral_value()
    elif isinstance(value, float):
        exact = value.is_integer() and abs(value) < _MAX_EXACT_FLOAT
    return int(value) if exact else None


def to_epoch_ms(value: Any, tz: dt.tzinfo = dt.UTC) -> int | None:
    """Epoch milliseconds of any date/time pendulum reads (naive values in ``tz``); ``None`` if empty.

    Numbers are epoch seconds, or milliseconds above 1e11 (as in :mod:`core.normalize`).

    :raises ValueProblem: ``INVALID_DATETIME`` (unparseable, before 1970) or ``INVALID_TYPE``.
    """
    moment = to_utc_datetime(value, tz)
    if moment is None:
        return None
    if moment < _EPOCH:
        raise ValueProblem(INVALID_DATETIME, f"date/time before 1970: {preview(value)}")
    return (moment - _EPOCH) // _ONE_MS


def suggest_attendance_field(name: str) -> str | None:
    """The attendance field a mistyped name probably meant (``subscriber_state`` -> ``subscriberState``).

    :param name: a source key or a field name.
    """
    return _FIELDS.suggest(name)


# -- keys and request planning ---------------------------------------------------------------------


def _contact(payload: Mapping[str, Any]) -> tuple[str, str]:
    if "email" in payload:
        return "email", str(payload["email"]).casefold()
    return "vid", str(payload["vid"])


def dedup_key(payload: Mapping[str, Any]) -> DedupKey:
    """``(externalAccountId, externalEventId, contact, subscriberState)``: rows with the same key
    supersede each other (the last row wins). The contact is ``email:<address, case-folded>`` or
    ``vid:<id>`` (an email and a vid of the same contact cannot be matched without HubSpot).

    :param payload: a normalised payload.
    """
    kind, value = _contact(payload)
    return (
        payload["externalAccountId"],
        payload["externalEventId"],
        f"{kind}:{value}",
        payload["subscriberState"],
    )


def group_key(payload: Mapping[str, Any]) -> GroupKey:
    """``(externalAccountId, externalEventId, subscriberState, "email" | "vid")``: rows with the same
    key can share one request (one URL: event, state and route).

    :param payload: a normalised payload.
    """
    return (
        payload["externalAccountId"],
        payload["externalEventId"],
        payload["subscriberState"],
        _contact(payload)[0],
    )


def hubspot_input(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The HubSpot input of one payload: ``{email, interactionDateTime, properties, contactProperties}``
    (email-create) or ``{vid, interactionDateTime, properties}`` (create).

    ``properties`` and ``contactProperties`` are always sent (``{}`` when empty): the spec marks them
    required.

    :param payload: a normalised payload.
    """
    body: dict[str, Any] = {}
    if "email" in payload:
        body["email"] = payload["email"]
    else:
        body["vid"] = payload["vid"]
    body["interactionDateTime"] = payload["interactionDateTime"]
    body["properties"] = dict(payload.get("properties") or {})
    if "email" in payload:
        body[CONTACT_PROPERTIES] = dict(payload.get(CONTACT_PROPERTIES) or {})
    return body


# -- errors ----------------------------------------------------------------------------------------


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

    field_names = _FIELDS
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
        plan = source_plan(_FIELDS, field_map, ignore_fields, contact_properties, "contact_properties")
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
            _FIELDS.check_targets("defaults key", [field])
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
