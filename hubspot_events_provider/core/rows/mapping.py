"""What every row mapper shares (events, attendance): parameter checks, where each field is read
from, unmapped-key checks, typo suggestions and the ``{name, value}`` property maps.

:class:`~hubspot_events_provider.core.kinds.events.mapper.EventMapper` and
:class:`~hubspot_events_provider.core.kinds.attendance.mapper.AttendanceMapper` differ in their fields and
normalisers only; the rules below (a same-named key maps to itself unless mapped elsewhere or
ignored, a key both mapped and ignored is refused, an unmapped key is refused with a did-you-mean
hint) are written once, here.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

from hubspot_events_provider.core.errors import UnmappedFieldsError
from hubspot_events_provider.core.rows.normalize import (
    INVALID_ROW,
    MISSING_REQUIRED_FIELD,
    VALUE_TOO_LONG,
    ValueProblem,
    format_rfc3339,
    preview,
    to_custom_value,
)

__all__ = [
    "FieldNames",
    "RowError",
    "SourcePlan",
    "UnmappedKeyCheck",
    "field_sources",
    "gather_properties",
    "json_text",
    "key_list",
    "known_keys",
    "missing_field",
    "not_an_object",
    "out_of_order",
    "property_columns",
    "property_map",
    "refuse_contradictions",
    "source_plan",
    "unmapped_among",
]


class RowError(NamedTuple):
    """One problem with one row: the HubSpot field (``None`` for the whole row), category, message."""

    field: str | None
    category: str
    message: str


class FieldNames:
    """A mapper's field names: the typo suggestions and the refusal of unknown targets.

    :param fields: the field names, in the order error messages list them.
    :param noun: the singular noun of one field, with its article (``"a HubSpot event field"``).
    :param listing: the words before the list of fields in an error (``"HubSpot fields"``).
    :param fold_underscores: also match ``subscriber_state`` to ``subscriberState``.
    """

    def __init__(self, fields: Sequence[str], *, noun: str, listing: str, fold_underscores: bool) -> None:
        self.fields = tuple(fields)
        self._by_lower = {f.lower(): f for f in self.fields}
        self._noun = noun
        self._listing = listing
        self._fold = fold_underscores

    def suggest(self, name: str) -> str | None:
        """The field a mistyped name probably meant, if any.

        :param name: a source key or a field name.
        """
        lowered = name.lower()
        if self._fold:
            lowered = lowered.replace("_", "")
        if lowered in self._by_lower:
            return self._by_lower[lowered]
        close = difflib.get_close_matches(lowered, list(self._by_lower), n=1, cutoff=0.8)
        return self._by_lower[close[0]] if close else None

    def check_targets(self, kind: str, names: Iterable[str]) -> None:
        """Refuse names that are no field, with hints for likely typos.

        :param kind: what the names are, e.g. ``"field_map target"``.
        :raises ValueError: a name is not a field.
        """
        bad = sorted(str(n) for n in names if n not in self.fields)
        if not bad:
            return
        hints = [f"{b!r} -> {s!r}" for b in bad if (s := self.suggest(b))]
        hint = f" Did you mean {', '.join(hints)}?" if hints else ""
        article, _, noun = self._noun.partition(" ")
        verb = f"is not {article}" if len(bad) == 1 else "are not"
        raise ValueError(
            f"{kind} {', '.join(repr(b) for b in bad)} {verb} {noun}{'s' if len(bad) > 1 else ''}.{hint} "
            f"{self._listing}: {', '.join(self.fields)}."
        )


class UnmappedKeyCheck:
    """A mapper's refusal of unmapped source keys: :meth:`unmapped_keys` finds them,
    :meth:`unmapped_error` builds the error (with did-you-mean hints) that refuses the run.

    A mapper sets ``field_names`` and ``unmapped_error_class`` (class attributes) and
    ``_known`` / ``ignore_unmapped`` (in its constructor).
    """

    field_names: ClassVar[FieldNames]
    unmapped_error_class: ClassVar[type[UnmappedFieldsError]] = UnmappedFieldsError
    _known: frozenset[str]
    ignore_unmapped: bool

    def unmapped_keys(self, keys: Iterable[Any]) -> set[str]:
        """The source keys that map to no field (empty with ``ignore_unmapped``).

        :param keys: source keys (a row, its ``keys()``, a CSV header, cursor column names).
        """
        return unmapped_among(self._known, keys, self.ignore_unmapped)

    def unmapped_error(
        self, keys: Iterable[Any], *, source: str | None = None, line: int | None = None
    ) -> UnmappedFieldsError:
        """The error refusing these unmapped keys, with did-you-mean hints for likely typos.

        :param keys: the unmapped source keys.
        :param source: the input they came from.
        :param line: the first line where one was seen.
        """
        names = sorted({str(k) for k in keys})
        hints = {k: s for k in names if (s := self.field_names.suggest(k)) is not None}
        return self.unmapped_error_class(names, source=source, line=line, suggestions=hints)


def key_list(value: Iterable[str] | str | None, what: str) -> list[str]:
    """A parameter's source keys as a list (one string is one key).

    :raises ValueError: an item is not a non-empty string.
    """
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or not item:
            raise ValueError(f"{what} must hold non-empty strings, got {preview(item)}")
    return items


def refuse_contradictions(field_map: Mapping[str, str], ignore_fields: frozenset[str]) -> None:
    """:raises ValueError: a key is both mapped and ignored."""
    contradictory = sorted(ignore_fields & set(field_map))
    if contradictory:
        raise ValueError(f"keys {contradictory} are both in field_map and in ignore_fields")


def property_columns(
    value: Iterable[str] | Mapping[str, str] | str | None, what: str
) -> tuple[tuple[str, str], ...]:
    """``(source key, property name)`` pairs of a list (the name is the key) or a mapping parameter."""
    if isinstance(value, Mapping):
        pairs = [(str(k), str(v)) for k, v in value.items()]
        key_list([p for pair in pairs for p in pair], what)
        return tuple(pairs)
    return tuple((k, k) for k in key_list(value, what))


def field_sources(
    fields: Iterable[str], field_map: Mapping[str, str], ignore_fields: frozenset[str]
) -> dict[str, tuple[str, ...]]:
    """The source keys read for each field, in order: ``field_map`` entries, then the same-named key
    unless it is mapped elsewhere or ignored."""
    sources: dict[str, tuple[str, ...]] = {}
    for field in fields:
        found = [src for src, target in field_map.items() if target == field]
        if field not in field_map and field not in ignore_fields and field not in found:
            found.append(field)
        sources[field] = tuple(found)
    return sources


def known_keys(
    sources: Mapping[str, tuple[str, ...]],
    columns: Iterable[tuple[str, str]],
    ignore_fields: frozenset[str],
    field_map: Mapping[str, str],
) -> frozenset[str]:
    """Every source key a mapper reads or deliberately leaves out."""
    return frozenset(
        {s for keys in sources.values() for s in keys}
        | {src for src, _ in columns}
        | ignore_fields
        | set(field_map)
    )


def unmapped_among(known: frozenset[str], keys: Iterable[Any], ignore_unmapped: bool) -> set[str]:
    """The keys not in ``known`` (none with ``ignore_unmapped``)."""
    if ignore_unmapped or known.issuperset(keys):
        return set()
    return {str(k) for k in keys if k not in known}


def not_an_object(row: Any) -> RowError:
    """The error of a row that is not a mapping."""
    return RowError(None, INVALID_ROW, f"expected an object, got {type(row).__name__}")


def missing_field(field: str, sources: Iterable[str]) -> RowError:
    """The error of a required field no source key (nor default) gave."""
    looked = ", ".join(repr(s) for s in sources) or "none"
    return RowError(field, MISSING_REQUIRED_FIELD, f"{field} is required (source keys: {looked})")


def property_map(
    pairs: Iterable[tuple[Any, Any]], tz: dt.tzinfo, *, category: str, noun: str
) -> dict[str, str] | None:
    """``{name: text}`` of ``(name, value)`` pairs (values as property text; empty ones dropped).

    :param category: the error category of a bad name.
    :param noun: the property's noun in errors, e.g. ``"custom property"``.
    :raises ValueProblem: a name that is not a non-empty string, or a bad value.
    """
    result: dict[str, str] = {}
    for name, value in pairs:
        if not isinstance(name, str) or not name.strip():
            raise ValueProblem(category, f"{noun} name {preview(name)} is not valid")
        text = to_custom_value(value, tz)
        if text is not None:
            result[name.strip()] = text
    return result or None


def json_text(raw: Any, *, category: str, field: str) -> Any:
    """A property map given as JSON text, parsed (``None`` for blank text); other values unchanged.

    :raises ValueProblem: the text is not JSON.
    """
    if not isinstance(raw, str):
        return raw
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ValueProblem(category, f"{field} text is not JSON: {preview(raw)}") from None


class SourcePlan(NamedTuple):
    """Where a mapper reads each field from, checked (see :func:`source_plan`)."""

    #: The source keys deliberately not sent.
    ignore_fields: frozenset[str]
    #: ``(source key, property name)`` of the property columns (custom or contact properties).
    columns: tuple[tuple[str, str], ...]
    #: Field -> the source keys read for it, in order.
    sources: dict[str, tuple[str, ...]]
    #: Every source key read or deliberately left out (any other key is unmapped).
    known: frozenset[str]


def source_plan(
    names: FieldNames,
    field_map: Mapping[str, str],
    ignore_fields: Iterable[str] | str | None,
    properties: Iterable[str] | Mapping[str, str] | str | None,
    properties_parameter: str,
) -> SourcePlan:
    """Check a mapper's ``field_map``, ``ignore_fields`` and property columns and plan its reads.

    :param names: the mapper's fields.
    :param properties: the property columns parameter (a list, or source key -> property name).
    :param properties_parameter: its name, for errors (``custom_properties``, ``contact_properties``).
    :raises ValueError: a bad key, an unknown target, a key both mapped and ignored.
    """
    key_list(list(field_map), "field_map keys")
    names.check_targets("field_map target", field_map.values())
    ignore = frozenset(key_list(ignore_fields, "ignore_fields"))
    refuse_contradictions(field_map, ignore)
    columns = property_columns(properties, properties_parameter)
    sources = field_sources(names.fields, field_map, ignore)
    return SourcePlan(ignore, columns, sources, known_keys(sources, columns, ignore, field_map))


def gather_properties(
    get: Callable[[str], Any],
    sources: Iterable[str],
    parse: Callable[[Any], dict[str, str] | None],
    columns: Iterable[tuple[str, str]],
    tz: dt.tzinfo,
    *,
    field: str,
    column_category: str,
    error: Callable[[str, str, ValueProblem], RowError],
) -> tuple[dict[str, str] | None, list[RowError]]:
    """A row's property map (``customProperties``, ``contactProperties``): the first non-empty
    map among ``sources`` (parsed by ``parse``), then every property column on top of it.

    :param column_category: the category of a bad column value (a too long one stays
        ``VALUE_TOO_LONG``).
    :param error: builds a row error from (field, source key, problem).
    :returns: the map (``None`` when empty) and the row's errors; a bad map stops at its error.
    """
    props: dict[str, str] | None = None
    for src in sources:
        raw = get(src)
        if raw is None:
            continue
        try:
            props = parse(raw)
        except ValueProblem as exc:
            return None, [error(field, src, exc)]
        if props:
            break
    errors: list[RowError] = []
    for src, name in columns:
        raw = get(src)
        if raw is None:
            continue
        try:
            text = to_custom_value(raw, tz)
        except ValueProblem as exc:
            category = VALUE_TOO_LONG if exc.category == VALUE_TOO_LONG else column_category
            errors.append(error(f"{field}.{name}", src, ValueProblem(category, exc.message)))
            continue
        if text is not None:
            if props is None:
                props = {}
            props[name] = text  # parse() returns a fresh map: updating it in place is safe
    return props, errors


def out_of_order(values: Mapping[str, Any], first: str, last: str, category: str) -> RowError | None:
    """The error of a row whose ``last`` datetime is before its ``first`` (``None`` if in order or
    either is absent), e.g. ``endDateTime`` before ``startDateTime``."""
    start: dt.datetime | None = values.get(first)
    end: dt.datetime | None = values.get(last)
    if start is None or end is None or not end < start:
        return None
    return RowError(last, category, f"{last} {format_rfc3339(end)} is before {first} {format_rfc3339(start)}")
