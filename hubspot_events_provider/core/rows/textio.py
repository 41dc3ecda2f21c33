"""Bytes to text for the file readers: the encoding (a byte-order mark, UTF-8 or a given codec) and
lines or chunks decoded with the line number of a bad byte.

UTF-8 is decoded line by line (or chunk by chunk for a streamed JSON array) so that a bad byte is
reported on its own line; any other encoding goes through :class:`io.TextIOWrapper`, since a UTF-16
newline is two bytes and a line cannot be split on bytes.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Protocol, cast

from hubspot_events_provider.core.errors import InputError

__all__ = [
    "CHUNK",
    "RawAdapter",
    "Readable",
    "choose_encoding",
    "decoded_chunks",
    "decoded_lines",
    "is_utf8",
    "peek_head",
    "text_lines",
]

#: Bytes read at a time: files are streamed in chunks, never loaded whole.
CHUNK = 1 << 16


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


#: Byte-order marks, longest first (a UTF-32 LE mark starts with the UTF-16 LE one).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32 (little-endian)"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 (big-endian)"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 (little-endian)"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 (big-endian)"),
)


def is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def _bom(head: bytes) -> tuple[str, str] | None:
    for bom, codec, label in _BOMS:
        if head.startswith(bom):
            return codec, label
    return None


def choose_encoding(head: bytes, encoding: str | None, name: str, note: Callable[[str], None]) -> str:
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


def peek_head(stream: io.BufferedIOBase) -> bytes:
    peek = getattr(stream, "peek", None)
    return bytes(peek(4)[:4]) if callable(peek) else b""


def text_lines(stream: io.BufferedIOBase, encoding: str, name: str) -> Iterator[str]:
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


class RawAdapter(io.RawIOBase):
    """Let :class:`io.BufferedReader` wrap any object with ``read`` (fsspec, gzip...), after ``head``."""

    def __init__(self, inner: Readable, head: bytes = b"") -> None:
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


def decoded_lines(stream: Iterable[bytes], name: str) -> Iterator[str]:
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


def decoded_chunks(stream: Readable, name: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0
    while True:
        data = stream.read(CHUNK)
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
