"""Row readers: turn an ``events`` value, a file stream or a DB-API cursor into :class:`SourceRow` s.

Every reader is a lazy generator: rows are yielded one at a time and files are streamed in chunks,
never loaded whole, so memory stays flat whatever the input size. Bad input (unreadable file,
invalid JSON at line N, broken CSV, wrong encoding, an object where a list was expected) raises
:class:`~hubspot_events_provider.core.errors.InputError` naming the source and the line. Rows that
are not JSON objects are passed through as they are; the mapper reports them as ``INVALID_ROW``.
An empty input simply yields nothing: the caller decides whether that is an error.
"""

from __future__ import annotations

import ast
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.rows.csvrows import CSV_DELIMITERS
from hubspot_events_provider.core.rows.files import (
    FILE_FORMATS,
    check_file_options,
    detect_format,
    rows_from_file,
)
from hubspot_events_provider.core.rows.identity import SourceRow
from hubspot_events_provider.core.rows.jsonrows import WS, json_array, json_lines

# The readers of each format live in their own modules (files, jsonrows, csvrows, textio); this
# module is the readers' one face: the events value and a cursor are read here, files re-exported.
__all__ = [
    "CSV_DELIMITERS",
    "FILE_FORMATS",
    "SourceRow",
    "check_file_options",
    "detect_format",
    "rows_from_cursor",
    "rows_from_events",
    "rows_from_file",
    "rows_from_json_text",
]


# -- events (XCom / templated value) -------------------------------------------------------------


def rows_from_events(events: Any, source: str = "events") -> Iterator[SourceRow]:
    """Read the ``events`` parameter: a list (or other sequence) of dicts, or JSON text.

    JSON text is a JSON array, or JSON Lines (one object per line); the Python repr of a list (what
    Jinja renders without native objects) is accepted too. A single dict, a number,
    ``None`` or any other non-list value is refused.

    :param events: the rendered parameter or XCom value.
    :param source: the name used in error messages.
    :raises InputError: not a list, or invalid JSON (with the line).
    """
    if isinstance(events, bytes | bytearray):
        try:
            events = bytes(events).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"is not UTF-8 text ({exc.reason} at byte {exc.start})", source=source) from None
    if isinstance(events, str):
        yield from rows_from_json_text(events, source=source)
        return
    if events is None:
        raise InputError(
            "is None: expected a list of events (did the upstream task return nothing?)", source=source
        )
    if isinstance(events, Mapping):
        raise InputError(
            "is a single object (dict); expected a list of event objects. Wrap it in a list.", source=source
        )
    if isinstance(events, Sequence | Iterator):
        for position, item in enumerate(events, 1):
            yield SourceRow(position, None, item)
        return
    raise InputError(
        f"is a {type(events).__name__}; expected a list of event objects or JSON text", source=source
    )


def rows_from_json_text(text: str, source: str = "events") -> Iterator[SourceRow]:
    """Read JSON text: a JSON array of objects, or JSON Lines. Blank text yields nothing.

    :param text: the JSON text.
    :param source: the name used in error messages.
    :raises InputError: invalid JSON (with the line), or a JSON value that is not a list.
    """
    start = len(text) - len(text.lstrip(WS + "\ufeff"))
    if start == len(text):
        return
    first = text[start]
    if first == "[":
        rows = json_array(iter((text,)), source)
        try:
            head = next(rows, None)
        except InputError:
            python_rows = _python_literal_list(text)
            if python_rows is None:
                raise
            for position, item in enumerate(python_rows, 1):
                yield SourceRow(position, None, item)
            return
        if head is not None:
            yield head
            yield from rows
    elif first == "{":
        yield from json_lines(io.StringIO(text, newline="\n"), source)
    else:
        hint = " (a file path? pass it as events_file)" if text.strip().endswith((".json", ".jsonl")) else ""
        raise InputError(
            f"is a string that is neither a JSON array nor JSON Lines{hint}: {text.strip()[:60]!r}",
            source=source,
        )


def _python_literal_list(text: str) -> list[Any] | None:
    """A list rendered as its Python repr (Jinja without native rendering: ``[{'id': 1}]``), or None."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, list) else None


# -- DB-API cursor ---------------------------------------------------------------------------------


def rows_from_cursor(cursor: Any, source: str = "sql", fetch_size: int = 1000) -> Iterator[SourceRow]:
    """Stream rows from an executed DB-API 2.0 cursor (``description`` gives the column names).

    :param cursor: a cursor after ``execute()``.
    :param source: the name used in error messages.
    :param fetch_size: rows per ``fetchmany()`` call.
    :raises InputError: the statement returned no result set, or repeats a column name.
    """
    description = cursor.description
    if not description:
        raise InputError("the query returned no result set (no cursor.description)", source=source)
    names = [str(col[0]) for col in description]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"the query returns columns with the same name {dupes}; alias them", source=source)
    position = 0
    while True:
        batch = cursor.fetchmany(fetch_size)
        if not batch:
            return
        for values in batch:
            position += 1
            yield SourceRow(position, None, dict(zip(names, values, strict=False)))
