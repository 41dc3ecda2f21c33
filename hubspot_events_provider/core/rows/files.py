"""Read a file: its format (JSON array, JSON Lines, CSV), gzip, its encoding, then the format's reader.

:func:`rows_from_file` streams the file (see :mod:`.textio`, :mod:`.jsonrows`, :mod:`.csvrows`):
memory stays flat whatever its size.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from typing import IO

from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.rows.csvrows import csv_rows
from hubspot_events_provider.core.rows.identity import SourceRow
from hubspot_events_provider.core.rows.jsonrows import json_file, json_file_text, json_lines
from hubspot_events_provider.core.rows.textio import (
    CHUNK,
    RawAdapter,
    choose_encoding,
    decoded_lines,
    is_utf8,
    peek_head,
    text_lines,
)

__all__ = ["FILE_FORMATS", "check_file_options", "detect_format", "rows_from_file"]

_GZIP_MAGIC = b"\x1f\x8b"

#: Formats accepted by :func:`rows_from_file` (``ndjson`` is an alias of ``jsonl``).
FILE_FORMATS = ("json", "jsonl", "ndjson", "csv")


def detect_format(name: str, file_format: str | None = None) -> str:
    """Return ``json``, ``jsonl`` or ``csv`` from ``file_format`` or the name's extension (``.gz`` ignored).

    :param name: the file name or URI.
    :param file_format: an explicit format, which wins.
    :raises InputError: unknown format.
    """
    if file_format:
        fmt = file_format.lower().lstrip(".")
        if fmt not in FILE_FORMATS:
            raise InputError(
                f"file_format {file_format!r} is not one of {', '.join(FILE_FORMATS)}", source=name
            )
        return "jsonl" if fmt == "ndjson" else fmt
    lowered = name.lower().split("?", 1)[0]
    if lowered.endswith(".gz"):
        lowered = lowered[:-3]
    for fmt in FILE_FORMATS:
        if lowered.endswith("." + fmt):
            return "jsonl" if fmt == "ndjson" else fmt
    raise InputError(
        f"cannot tell the file format from the name; pass file_format ({', '.join(FILE_FORMATS)})",
        source=name,
    )


def rows_from_file(
    opener: Callable[[], IO[bytes]],
    name: str = "events_file",
    file_format: str | None = None,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    on_detect: Callable[[str], None] | None = None,
) -> Iterator[SourceRow]:
    """Stream rows from a JSON array, JSON Lines or CSV file, optionally gzip-compressed.

    The format comes from ``file_format`` or the extension; gzip from a ``.gz`` suffix or the magic
    bytes. A ``.json`` file whose first character is ``{`` is read as JSON Lines. UTF-8 with or
    without a BOM unless ``encoding`` says otherwise; a UTF-16 or UTF-32 byte-order mark is detected
    (and named). A CSV's delimiter is detected from the header when not given (``,``, ``;``, tab, ``|``).

    :param opener: returns a binary file object (e.g. ``ObjectStoragePath(uri).open("rb")``).
    :param name: the path or URI, for messages and for the format.
    :param file_format: ``json``, ``jsonl``/``ndjson`` or ``csv``; overrides the extension.
    :param delimiter: the CSV delimiter (one character); default: detected from the header.
    :param encoding: the text encoding (any Python codec name, e.g. ``latin-1``, ``cp1252``,
        ``utf-16``); default: UTF-8, or what a byte-order mark says.
    :param on_detect: told, in words, what was detected (a delimiter, a byte-order mark), for the log.
    :raises InputError: unreadable file, bad content (with the line number).
    """
    fmt = detect_format(name, file_format)
    check_file_options(delimiter, encoding)
    note = on_detect or (lambda _message: None)
    try:
        raw = opener()
    except OSError as exc:
        raise InputError(f"cannot open the file: {exc.strerror or exc}", source=name) from None
    try:
        with raw:
            buffered = io.BufferedReader(RawAdapter(raw), CHUNK)
            stream: io.BufferedIOBase = buffered
            if buffered.peek(2)[:2] == _GZIP_MAGIC:
                stream = gzip.GzipFile(fileobj=buffered, mode="rb")
            chosen = choose_encoding(peek_head(stream), encoding, name, note)
            yield from _format_rows(stream, fmt, chosen, name, delimiter, note)
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise InputError(f"is not a valid gzip file ({exc or 'truncated'})", source=name) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", source=name) from None


def _format_rows(
    stream: io.BufferedIOBase,
    fmt: str,
    encoding: str,
    name: str,
    delimiter: str | None,
    note: Callable[[str], None],
) -> Iterator[SourceRow]:
    """The rows of a (decompressed) stream in ``encoding``, read by the reader of ``fmt``."""
    if is_utf8(encoding):
        lines: Iterator[str] = decoded_lines(stream, name)
    else:
        lines = text_lines(stream, encoding, name)
    if fmt == "csv":
        yield from csv_rows(lines, name, delimiter, note)
    elif fmt == "jsonl":
        yield from json_lines(lines, name)
    elif is_utf8(encoding):
        yield from json_file(stream, name)
    else:
        yield from json_file_text(lines, name)


def check_file_options(delimiter: str | None, encoding: str | None) -> None:
    """Refuse a delimiter that is not one character and an encoding Python does not know.

    :raises ValueError: with what to pass instead.
    """
    if delimiter is not None and (
        not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '\r\n"'
    ):
        raise ValueError(f"delimiter must be one character such as ',' or ';', got {delimiter!r}")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise ValueError(
                f"encoding {encoding!r} is not a known text encoding (e.g. 'utf-8', 'latin-1')"
            ) from None
