"""Attendance fields: their names, the error categories of attendance rows, and the normalisers of
their values (subscriber state, email, contact id, epoch milliseconds).

Each normaliser returns ``None`` for an empty value and raises
:class:`~hubspot_events_provider.core.rows.normalize.ValueProblem` (a category and a message) on a
bad one; :class:`~hubspot_events_provider.core.kinds.attendance.mapper.AttendanceMapper` turns that
into a row error.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from hubspot_events_provider.core.rows.mapping import FieldNames
from hubspot_events_provider.core.rows.normalize import (
    INVALID_DATETIME,
    INVALID_ROW,
    INVALID_TYPE,
    MISSING_REQUIRED_FIELD,
    VALUE_TOO_LONG,
    ValueProblem,
    preview,
    to_string,
    to_utc_datetime,
)

__all__ = [
    "AMBIGUOUS_CONTACT",
    "ATTENDANCE_ERROR_CATEGORIES",
    "ATTENDANCE_FIELDS",
    "ATTEND_PROPERTIES",
    "CONTACT_PROPERTIES",
    "FIELDS",
    "INVALID_CONTACT_ID",
    "INVALID_CONTACT_PROPERTY",
    "INVALID_EMAIL",
    "INVALID_SUBSCRIBER_STATE",
    "LEFT_BEFORE_JOINED",
    "MAX_INT64",
    "MAX_REQUEST_INPUTS",
    "PROPERTY_NOT_ALLOWED",
    "STATE_ORDER",
    "SUBSCRIBER_STATES",
    "normalise_state",
    "suggest_attendance_field",
    "to_epoch_ms",
    "to_vid",
    "valid_email",
]

# Stable error categories of attendance rows (besides the shared ones of rows.normalize).
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
#: The attendance fields, for suggestions and the mapping checks.
FIELDS = FieldNames(ATTENDANCE_FIELDS, noun="an attendance field", listing="Fields", fold_underscores=True)


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

    Numbers are epoch seconds, or milliseconds above 1e11 (as in
    :mod:`~hubspot_events_provider.core.rows.normalize`).

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
    return FIELDS.suggest(name)
