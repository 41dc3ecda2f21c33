"""JSON readers: a JSON array streamed item by item from text chunks, and JSON Lines.

The array reader never holds more than one item (and a chunk) in memory and knows the line of every
item, so an error names its line; a ``.json`` file whose first character is ``{`` is read as JSON
Lines.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.rows.identity import SourceRow
from hubspot_events_provider.core.rows.jsoncodec import decode
from hubspot_events_provider.core.rows.textio import (
    CHUNK,
    RawAdapter,
    Readable,
    decoded_chunks,
    decoded_lines,
)

__all__ = ["WS", "json_array", "json_file", "json_file_text", "json_lines"]

#: JSON whitespace.
WS = " \t\n\r"
_MAX_ITEM_CHARS = 64 << 20


def json_file_text(lines: Iterator[str], name: str) -> Iterator[SourceRow]:
    """A ``.json`` file already decoded to lines: a JSON array, or JSON Lines when it starts with ``{``."""
    head: list[str] = []
    for line in lines:
        head.append(line)
        if line.strip():
            break
    rest = itertools.chain(head, lines)
    if head and head[-1].lstrip().startswith("{"):
        yield from json_lines(rest, name)
    elif head:
        yield from json_array(rest, name)


def json_file(stream: Readable, name: str) -> Iterator[SourceRow]:
    """A ``.json`` file: a JSON array, or JSON Lines when the first character is ``{``."""
    head = b""
    while True:
        data = stream.read(CHUNK)
        head += data
        body = head.lstrip(b" \t\r\n\xef\xbb\xbf")
        if body or not data:
            break
    if not body:
        return
    whole = io.BufferedReader(RawAdapter(stream, head), CHUNK)
    if body[:1] == b"{":
        yield from json_lines(decoded_lines(whole, name), name)
    else:
        yield from json_array(decoded_chunks(whole, name), name)


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
        if self.pos > CHUNK:
            self.line_at(self.pos)
            self.buf, self.pos, self.counted_to = self.buf[self.pos :], 0, 0
        self.buf += chunk
        return True

    def skip_ws(self) -> bool:
        """Move past whitespace; False when the input ends first."""
        while True:
            buf, pos, n = self.buf, self.pos, len(self.buf)
            while pos < n and buf[pos] in WS:
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
                if len(sc.buf.rstrip(WS)) <= exc.pos or exc.msg.startswith("Unterminated string"):
                    raise InputError(
                        f"truncated JSON: the input ends inside item {position + 1}",
                        source=source,
                        line=sc.line_at(exc.pos),
                    ) from None
            raise InputError(f"invalid JSON: {exc.msg}", source=source, line=sc.line_at(exc.pos)) from None
        if end < len(sc.buf) or not sc.more():
            return item, end


def json_array(chunks: Iterator[str], source: str) -> Iterator[SourceRow]:
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


def json_lines(lines: Iterable[str], source: str) -> Iterator[SourceRow]:
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
