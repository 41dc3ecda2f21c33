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
import codecs
import csv
import gzip
import io
import itertools
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, NamedTuple, Protocol, cast

from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.rows.jsoncodec import decode

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

#: Formats accepted by :func:`rows_from_file` (``ndjson`` is an alias of ``jsonl``).
FILE_FORMATS = ("json", "jsonl", "ndjson", "csv")
_CHUNK = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_ITEM_CHARS = 64 << 20
_WS = " \t\n\r"


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class SourceRow(NamedTuple):
    """One input row: 1-based ``position`` among the rows, 1-based source ``line`` (``None`` when the
    source has no lines), and the row ``data`` (a dict, or whatever non-object the source held)."""

    position: int
    line: int | None
    data: Any


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
    start = len(text) - len(text.lstrip(_WS + "\ufeff"))
    if start == len(text):
        return
    first = text[start]
    if first == "[":
        rows = _json_array(iter((text,)), source)
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
        yield from _json_lines(io.StringIO(text, newline="\n"), source)
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


# -- files -----------------------------------------------------------------------------------------


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


#: Byte-order marks, longest first (a UTF-32 LE mark starts with the UTF-16 LE one).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32 (little-endian)"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 (big-endian)"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 (little-endian)"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 (big-endian)"),
)
#: CSV delimiters tried on the header line when ``delimiter`` is not given.
CSV_DELIMITERS = (",", ";", "\t", "|")


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def _bom(head: bytes) -> tuple[str, str] | None:
    for bom, codec, label in _BOMS:
        if head.startswith(bom):
            return codec, label
    return None


def _choose_encoding(head: bytes, encoding: str | None, name: str, note: Callable[[str], None]) -> str:
    """The encoding to read with: the given one, or UTF-8, or what a UTF-16/32 byte-order mark says."""
    found = _bom(head)
    if found is None or found[0] == "utf-8":
        return encoding or "utf-8"
    codec, label = found
    if encoding is None:
        note(f"{name}: a {label} byte-order mark: reading the file as {codec.upper()}")
        return codec
    if not codecs.lookup(encoding).name.startswith(codec):
        raise InputError(
            f"starts with a {label} byte-order mark but encoding={encoding!r} was given; "
            f"the file is {codec.upper()}: pass encoding={codec!r} (or leave encoding unset)",
            source=name,
        )
    return encoding


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
            buffered = io.BufferedReader(_RawAdapter(raw), _CHUNK)
            stream: io.BufferedIOBase = buffered
            if buffered.peek(2)[:2] == _GZIP_MAGIC:
                stream = gzip.GzipFile(fileobj=buffered, mode="rb")
            head = _peek(stream)
            chosen = _choose_encoding(head, encoding, name, note)
            if _is_utf8(chosen):
                lines: Iterator[str] = _decoded_lines(stream, name)
            else:
                lines = _text_lines(stream, chosen, name)
            if fmt == "csv":
                yield from _csv_rows(lines, name, delimiter, note)
            elif fmt == "jsonl":
                yield from _json_lines(lines, name)
            elif _is_utf8(chosen):
                yield from _json_file(stream, name)
            else:
                yield from _json_text(lines, name)
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise InputError(f"is not a valid gzip file ({exc or 'truncated'})", source=name) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", source=name) from None


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


def _peek(stream: io.BufferedIOBase) -> bytes:
    peek = getattr(stream, "peek", None)
    return bytes(peek(4)[:4]) if callable(peek) else b""


def _text_lines(stream: io.BufferedIOBase, encoding: str, name: str) -> Iterator[str]:
    """Lines of a stream in a non-UTF-8 encoding (a UTF-16 newline is two bytes: no byte splitting)."""
    text = io.TextIOWrapper(cast(IO[bytes], stream), encoding=encoding, newline="")
    number = 0
    try:
        for number, line in enumerate(text, 1):
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield line
    except UnicodeDecodeError as exc:
        raise InputError(
            f"is not {encoding} text ({exc.reason}); pass the file's encoding", source=name, line=number + 1
        ) from None


def _json_text(lines: Iterator[str], name: str) -> Iterator[SourceRow]:
    """A ``.json`` file already decoded to lines: a JSON array, or JSON Lines when it starts with ``{``."""
    head: list[str] = []
    for line in lines:
        head.append(line)
        if line.strip():
            break
    rest = itertools.chain(head, lines)
    if head and head[-1].lstrip().startswith("{"):
        yield from _json_lines(rest, name)
    elif head:
        yield from _json_array(rest, name)


class _RawAdapter(io.RawIOBase):
    """Let :class:`io.BufferedReader` wrap any object with ``read`` (fsspec, gzip...), after ``head``."""

    def __init__(self, inner: _Readable, head: bytes = b"") -> None:
        self._inner = inner
        self._head = head

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            data, self._head = self._head[: len(buffer)], self._head[len(buffer) :]
        else:
            data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


def _decoded_lines(stream: Iterable[bytes], name: str) -> Iterator[str]:
    """Decode a binary stream line by line (so a bad byte is reported on its own line)."""
    for number, raw in enumerate(stream, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"is not UTF-8 text ({exc.reason}, byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                "is it binary, or in another encoding (pass encoding, e.g. 'cp1252')?",
                source=name,
                line=number,
            ) from None
        if number == 1:
            if text.startswith("\ufeff"):
                text = text[1:]
            _refuse_utf16_without_bom(raw, name)
        yield text


def _refuse_utf16_without_bom(first_line: bytes, name: str) -> None:
    """A first line whose every other byte is NUL is UTF-16 without a byte-order mark: say so."""
    sample = first_line[:512].rstrip(b"\r\n")
    if len(sample) < 4 or b"\x00" not in sample:
        return
    for zeros, label, codec in ((sample[1::2], "little", "utf-16-le"), (sample[0::2], "big", "utf-16-be")):
        if zeros.count(0) >= 0.9 * len(zeros):
            raise InputError(
                f"looks like UTF-16 ({label}-endian) text without a byte-order mark, not UTF-8; "
                f"pass encoding={codec!r}",
                source=name,
                line=1,
            )


def _json_file(stream: _Readable, name: str) -> Iterator[SourceRow]:
    """A ``.json`` file: a JSON array, or JSON Lines when the first character is ``{``."""
    head = b""
    while True:
        data = stream.read(_CHUNK)
        head += data
        body = head.lstrip(b" \t\r\n\xef\xbb\xbf")
        if body or not data:
            break
    if not body:
        return
    whole = io.BufferedReader(_RawAdapter(stream, head), _CHUNK)
    if body[:1] == b"{":
        yield from _json_lines(_decoded_lines(whole, name), name)
    else:
        yield from _json_array(_decoded_chunks(whole, name), name)


def _decoded_chunks(stream: _Readable, name: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0
    while True:
        data = stream.read(_CHUNK)
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            line = lines_before + data.count(b"\n", 0, max(exc.start, 0)) + 1
            raise InputError(
                f"is not UTF-8 text ({exc.reason}); "
                "is it binary, or in another encoding (pass encoding, e.g. 'cp1252')?",
                source=name,
                line=line,
            ) from None
        lines_before += data.count(b"\n")
        if text:
            yield text
        if not data:
            return


class _ArrayScanner:
    """Incremental state over text chunks: a buffer, a cursor and the line number of the cursor."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self.chunks = chunks
        self.buf = ""
        self.pos = 0
        self.counted_to = 0  # buf index up to which newlines are counted
        self.counted_line = 1  # line number at buf[counted_to]
        self.eof = False

    def more(self) -> bool:
        """Append the next chunk (dropping consumed text first); False at the end of input."""
        if self.eof:
            return False
        chunk = next(self.chunks, None)
        if chunk is None:
            self.eof = True
            return False
        if self.pos > _CHUNK:
            self.line_at(self.pos)
            self.buf, self.pos, self.counted_to = self.buf[self.pos :], 0, 0
        self.buf += chunk
        return True

    def skip_ws(self) -> bool:
        """Move past whitespace; False when the input ends first."""
        while True:
            buf, pos, n = self.buf, self.pos, len(self.buf)
            while pos < n and buf[pos] in _WS:
                pos += 1
            self.pos = pos
            if pos < n:
                return True
            if not self.more():
                return False

    def line_at(self, index: int) -> int:
        """The line number of ``buf[index]`` (``index`` never goes backwards)."""
        if index > self.counted_to:
            self.counted_line += self.buf.count("\n", self.counted_to, index)
            self.counted_to = index
        return self.counted_line


def _needs_more(exc: json.JSONDecodeError, buffered: int) -> bool:
    """Whether a decode error may just mean the item continues in the next chunk."""
    return buffered - exc.pos <= 64 or exc.msg.startswith("Unterminated string")


def _decode_item(
    sc: _ArrayScanner, decode: Callable[[str, int], tuple[Any, int]], position: int, source: str
) -> tuple[Any, int]:
    """Decode the array item at ``sc.pos`` (reading more chunks until it is whole): ``(item, end)``.

    An item that ends exactly at the end of the buffer is decoded again with more text, since a
    number (``12`` of ``123``) may continue in the next chunk.
    """
    while True:
        try:
            item, end = decode(sc.buf, sc.pos)
        except json.JSONDecodeError as exc:
            if len(sc.buf) - sc.pos > _MAX_ITEM_CHARS:
                raise InputError(
                    f"a JSON item is larger than {_MAX_ITEM_CHARS} characters",
                    source=source,
                    line=sc.line_at(sc.pos),
                ) from None
            if _needs_more(exc, len(sc.buf)):
                if sc.more():
                    continue
                if len(sc.buf.rstrip(_WS)) <= exc.pos or exc.msg.startswith("Unterminated string"):
                    raise InputError(
                        f"truncated JSON: the input ends inside item {position + 1}",
                        source=source,
                        line=sc.line_at(exc.pos),
                    ) from None
            raise InputError(f"invalid JSON: {exc.msg}", source=source, line=sc.line_at(exc.pos)) from None
        if end < len(sc.buf) or not sc.more():
            return item, end


def _json_array(chunks: Iterator[str], source: str) -> Iterator[SourceRow]:
    """Stream the items of a JSON array from text chunks with ``raw_decode``, tracking line numbers."""
    decode = json.JSONDecoder().raw_decode
    sc = _ArrayScanner(chunks)
    if sc.skip_ws() and sc.buf[sc.pos] == "\ufeff":
        sc.pos += 1
    if not sc.skip_ws():
        return
    if sc.buf[sc.pos] != "[":
        what = "a single JSON object" if sc.buf[sc.pos] == "{" else "something else"
        raise InputError(
            f"expected a JSON array of events, got {what}", source=source, line=sc.line_at(sc.pos)
        )
    sc.pos += 1
    position = 0
    while True:
        if not sc.skip_ws():
            raise InputError(
                "truncated JSON: the array is not closed with ']'", source=source, line=sc.line_at(sc.pos)
            )
        if position and sc.buf[sc.pos] != "]":
            if sc.buf[sc.pos] != ",":
                raise InputError(
                    f"invalid JSON: expected ',' or ']' after item {position}, got {sc.buf[sc.pos]!r}",
                    source=source,
                    line=sc.line_at(sc.pos),
                )
            sc.pos += 1
            if not sc.skip_ws():
                raise InputError("truncated JSON after ','", source=source, line=sc.line_at(sc.pos))
        elif sc.buf[sc.pos] == "]":
            sc.pos += 1
            break
        item, end = _decode_item(sc, decode, position, source)
        position += 1
        yield SourceRow(position, sc.line_at(sc.pos), item)
        sc.pos = end
    if sc.skip_ws():
        raise InputError("invalid JSON: extra data after the array", source=source, line=sc.line_at(sc.pos))


def _json_lines(lines: Iterable[str], source: str) -> Iterator[SourceRow]:
    loads = decode  # msgspec's speed, the stdlib's results and errors (see core/rows/jsoncodec.py)
    position = 0
    for number, text in enumerate(lines, 1):
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        if not text or text.isspace():
            continue
        try:
            item = loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"invalid JSON Lines: {exc.msg} (column {exc.colno}); each line must hold one JSON object",
                source=source,
                line=number,
            ) from None
        position += 1
        yield SourceRow(position, number, item)


def _sniff_delimiter(header: str) -> str:
    """The candidate delimiter the header line holds most often outside quotes (``,`` on a tie)."""
    outside = "".join(part for index, part in enumerate(header.split('"')) if index % 2 == 0)
    counts = {d: outside.count(d) for d in CSV_DELIMITERS}
    best = max(CSV_DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _csv_rows(
    lines: Iterator[str],
    source: str,
    delimiter: str | None = None,
    note: Callable[[str], None] | None = None,
) -> Iterator[SourceRow]:
    skipped: list[str] = []
    for text in lines:
        skipped.append(text)
        if text.strip():
            break
    if delimiter is None and skipped:
        delimiter = _sniff_delimiter(skipped[-1])
        if delimiter != "," and note is not None:
            shown = "tab" if delimiter == "\t" else repr(delimiter)
            note(f"{source}: CSV delimiter {shown} detected from the header (pass delimiter=',' to override)")
    reader = csv.reader(itertools.chain(skipped, lines), delimiter=delimiter or ",", strict=True)
    last_line = 0
    try:
        header = next(reader, None)
        while header is not None and not header:
            header = next(reader, None)
        if header is None:
            return
        header_line = reader.line_num
        names = [h.strip() for h in header]
        _check_header(names, delimiter or ",", source, header_line)
        width = len(names)
        position = 0
        last_line = reader.line_num
        for cells in reader:
            line = last_line + 1
            last_line = reader.line_num
            if not cells:
                continue
            if len(cells) > width:
                raise InputError(
                    f"the CSV row has {len(cells)} fields but the header has {width}",
                    source=source,
                    line=line,
                )
            position += 1
            yield SourceRow(
                position, line, {k: (v if v != "" else None) for k, v in zip(names, cells, strict=False)}
            )
    except csv.Error as exc:
        raise InputError(f"invalid CSV: {exc}", source=source, line=reader.line_num or None) from None


def _check_header(names: list[str], delimiter: str, source: str, line: int) -> None:
    if len(names) == 1:
        other = _sniff_delimiter(names[0])
        if other != delimiter and other in names[0]:
            shown = "tab" if other == "\t" else repr(other)
            raise InputError(
                f"the CSV header is one column {names[0][:60]!r} holding {shown}: the file looks "
                f"{shown}-separated, not {delimiter!r}-separated; "
                f"pass delimiter={other!r} (or leave it unset)",
                source=source,
                line=line,
            )
    if not any(names) or "" in names:
        raise InputError(
            "the CSV header has empty column names; the first line must name every column",
            source=source,
            line=line,
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"the CSV header repeats columns {dupes}", source=source, line=line)


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
