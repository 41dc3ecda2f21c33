"""Row readers: events values, JSON / JSON Lines / CSV files (plain and gzip), DB-API cursors, bad input."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.rows.sources import (
    SourceRow,
    detect_format,
    rows_from_cursor,
    rows_from_events,
    rows_from_file,
)

ROWS = [{"id": "e1", "name": "Café ☕"}, {"id": "e2", "name": "Ünïcode"}]


def _opener(data: bytes) -> Callable[[], IO[bytes]]:
    return lambda: io.BytesIO(data)


def _read(data: bytes, name: str, file_format: str | None = None) -> list[SourceRow]:
    return list(rows_from_file(_opener(data), name=name, file_format=file_format))


# -- events values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "expected_lines"),
    [
        (ROWS, [None, None]),
        (tuple(ROWS), [None, None]),
        (iter(ROWS), [None, None]),
        (json.dumps(ROWS), [1, 1]),
        (json.dumps(ROWS, indent=2), [2, 6]),
        ("\n".join(json.dumps(r) for r in ROWS), [1, 2]),
        ("\n\n" + "\n\n".join(json.dumps(r) for r in ROWS) + "\n", [3, 5]),
        (json.dumps(ROWS).encode(), [1, 1]),
        ("\ufeff" + json.dumps(ROWS), [1, 1]),
    ],
)
def test_events_values(events: Any, expected_lines: list[int | None]) -> None:
    rows = list(rows_from_events(events))
    assert [r.data for r in rows] == ROWS
    assert [r.position for r in rows] == [1, 2]
    assert [r.line for r in rows] == expected_lines


@pytest.mark.parametrize("events", [[], "", "   ", "[]", "[ \n ]"])
def test_empty_events_yield_nothing(events: Any) -> None:
    assert list(rows_from_events(events)) == []


@pytest.mark.parametrize(
    ("events", "match"),
    [
        ({"id": "e1"}, "single object"),
        (None, "is None"),
        (42, "is a int"),
        ("hello", "neither a JSON array nor JSON Lines"),
        ("data/events.json", "pass it as events_file"),
        ('[{"id": 1},\n{"id": 2,}]', "line 2: invalid JSON"),
        ('[{"id": 1},\n{"id": 2}', "line 2: truncated JSON"),
        ('{"id": 1}\n{"id": 2\n', "line 2: invalid JSON Lines"),
        ('[{"id": 1}] [1]', "extra data"),
        (b"\xff\xfe[", "not UTF-8"),
    ],
)
def test_bad_events_values(events: Any, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        list(rows_from_events(events))
    assert str(info.value).startswith("events")


def test_python_repr_of_a_list_is_accepted() -> None:
    # Jinja without render_template_as_native_obj renders an XCom list as its Python repr.
    rows = list(rows_from_events(str([{"id": "e1", "ok": True, "n": None}])))
    assert rows == [SourceRow(1, None, {"id": "e1", "ok": True, "n": None})]


def test_non_object_items_pass_through_for_the_mapper() -> None:
    assert [r.data for r in rows_from_events('[1, "x", null]')] == [1, "x", None]


# -- files -----------------------------------------------------------------------------------------


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def _csv() -> bytes:
    return "id,name\r\ne1,Café ☕\r\ne2,Ünïcode\r\n".encode()


@pytest.mark.parametrize(
    ("data", "name", "file_format", "lines"),
    [
        (json.dumps(ROWS).encode(), "events.json", None, [1, 1]),
        (json.dumps(ROWS, indent=1, ensure_ascii=False).encode(), "events.json", None, [2, 6]),
        (_jsonl(ROWS), "events.jsonl", None, [1, 2]),
        (_jsonl(ROWS), "events.ndjson", None, [1, 2]),
        (_jsonl(ROWS), "events.json", None, [1, 2]),
        (_jsonl(ROWS), "export.txt", "ndjson", [1, 2]),
        (_csv(), "events.csv", None, [2, 3]),
        (b"\xef\xbb\xbf" + _csv(), "events.csv", None, [2, 3]),
        (b"\xef\xbb\xbf" + json.dumps(ROWS).encode(), "events.json", None, [1, 1]),
        (b"\xef\xbb\xbf" + _jsonl(ROWS), "events.jsonl", None, [1, 2]),
        (gzip.compress(_jsonl(ROWS)), "events.jsonl.gz", None, [1, 2]),
        (gzip.compress(_csv()), "events.csv.gz", None, [2, 3]),
        (gzip.compress(json.dumps(ROWS).encode()), "events.json", None, [1, 1]),
        (b"\n\n" + _jsonl(ROWS) + b"\n  \n", "events.jsonl", None, [3, 4]),
    ],
)
def test_files(data: bytes, name: str, file_format: str | None, lines: list[int]) -> None:
    rows = _read(data, name, file_format)
    assert [r.data for r in rows] == ROWS
    assert [r.position for r in rows] == [1, 2]
    assert [r.line for r in rows] == lines


def test_large_json_array_streams_across_chunks_with_line_numbers() -> None:
    items = [{"i": i, "text": "é" * (i % 50), "nested": {"n": [i, i + 1]}} for i in range(5000)]
    data = ("[\n" + ",\n".join(json.dumps(it, ensure_ascii=False) for it in items) + "\n]\n").encode()
    rows = _read(data, "big.json")
    assert [r.data for r in rows] == items
    assert rows[0].line == 2
    assert rows[-1].line == 5001


def test_json_array_on_one_line_with_a_number_at_a_chunk_boundary() -> None:
    items = list(range(30000))  # one huge line of numbers: every chunk boundary cuts a number
    rows = _read(json.dumps(items).encode(), "numbers.json")
    assert [r.data for r in rows] == items


def test_csv_cells_quoting_and_empty_values() -> None:
    data = b'id,name,note\ne1,"Hello, world","multi\nline"\ne2,,\n\ne3,x\n'
    rows = _read(data, "e.csv")
    assert [r.data for r in rows] == [
        {"id": "e1", "name": "Hello, world", "note": "multi\nline"},
        {"id": "e2", "name": None, "note": None},
        {"id": "e3", "name": "x"},
    ]
    assert [r.line for r in rows] == [2, 4, 6]


def test_real_files_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(_jsonl(ROWS)))
    rows = list(rows_from_file(lambda: path.open("rb"), name=str(path)))
    assert [r.data for r in rows] == ROWS


@pytest.mark.parametrize(
    ("data", "name", "match", "line"),
    [
        (b'[{"id": 1},\n{"id": 2', "e.json", "truncated JSON", 2),
        (b'[{"id": 1},\n\n{"id": }]', "e.json", "invalid JSON", 3),
        (b'[{"id": 1}\n{"id": 2}]', "e.json", "expected ',' or ']'", 2),
        (b'{"id": 1}\n{"id": 2,,}\n', "e.jsonl", "invalid JSON Lines", 2),
        (b'{"id": 1}\nnot json\n', "e.jsonl", "invalid JSON Lines", 2),
        (b'{"id": 1}\n', "e.json", None, None),
        (b'{"id": 1,\n "name": "x"}\n', "e.json", "invalid JSON Lines", 1),
        (b'"just a string"', "e.json", "expected a JSON array", 1),
        (b"id,name\ne1,x,extra\n", "e.csv", "3 fields but the header has 2", 2),
        (b'id,name\ne1,"unterminated\n', "e.csv", "invalid CSV", 2),
        (b'id,name\ne1,"bad"quote\n', "e.csv", "invalid CSV", 2),
        (b",\ne1,x\n", "e.csv", "empty column names", 1),
        (b"id,id\ne1,x\n", "e.csv", "repeats columns", 1),
        (b"id,name\ne1,caf\xe9\n", "e.csv", "not UTF-8", 2),
        (b'{"a": 1}\n{"a": "\xff\xfe"}\n', "e.jsonl", "not UTF-8", 2),
        (b'[{"a": 1},\n{"a": "\xff"}]', "e.json", "not UTF-8", 2),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "e.jsonl", "not UTF-8", 1),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "e.csv", "not UTF-8", 1),
        (b"\x00\x01\x02\x03", "e.jsonl", "invalid JSON Lines", 1),
        (b"\x1f\x8b\x08\x00garbage", "e.jsonl.gz", "gzip", None),
        (gzip.compress(_jsonl(ROWS))[:-12], "e.jsonl.gz", "gzip", None),
        (b"{}", "e.parquet", "cannot tell the file format", None),
    ],
)
def test_bad_files_name_the_file_and_line(
    data: bytes, name: str, match: str | None, line: int | None
) -> None:
    if match is None:  # a single-line object in a .json file is one row of JSON Lines
        assert [r.data for r in _read(data, name)] == [{"id": 1}]
        return
    with pytest.raises(InputError, match=match) as info:
        _read(data, name)
    assert info.value.source == name
    assert info.value.line == line
    assert str(info.value).startswith(name)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"", "e.json"),
        (b"", "e.jsonl"),
        (b"", "e.csv"),
        (b" \n\n", "e.json"),
        (gzip.compress(b""), "e.csv.gz"),
        (b"id,name\n", "e.csv"),
    ],
)
def test_empty_files_yield_nothing(data: bytes, name: str) -> None:
    assert _read(data, name) == []


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(InputError, match="cannot open the file") as info:
        list(rows_from_file(lambda: missing.open("rb"), name=str(missing)))
    assert info.value.source == str(missing)


def test_read_errors_midway_are_input_errors() -> None:
    class Flaky(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            self.calls += 1
            if self.calls > 1:
                raise OSError(5, "Input/output error")
            data = b'{"a": 1}\n'
            buffer[: len(data)] = data
            return len(data)

    reader = rows_from_file(lambda: Flaky(), name="s3://bucket/e.jsonl")  # type: ignore[arg-type,return-value]
    with pytest.raises(InputError, match="cannot read the file: Input/output error"):
        list(reader)


def test_reader_is_lazy_and_closes_the_file() -> None:
    handle = io.BytesIO(_jsonl(ROWS * 10))
    reader = rows_from_file(lambda: handle, name="e.jsonl")
    assert next(reader).data == ROWS[0]
    assert not handle.closed
    reader.close()
    assert handle.closed


@pytest.mark.parametrize(
    ("name", "file_format", "expected"),
    [
        ("a.json", None, "json"),
        ("a.JSONL", None, "jsonl"),
        ("a.ndjson.gz", None, "jsonl"),
        ("s3://b/a.csv.gz?versionId=1", None, "csv"),
        ("a.txt", "CSV", "csv"),
        ("a.json", "jsonl", "jsonl"),
    ],
)
def test_detect_format(name: str, file_format: str | None, expected: str) -> None:
    assert detect_format(name, file_format) == expected


def test_detect_format_refuses_unknown_file_format() -> None:
    with pytest.raises(InputError, match="file_format 'xml'"):
        detect_format("a.json", "xml")


# -- cursors ---------------------------------------------------------------------------------------


def _cursor(sql: str) -> sqlite3.Cursor:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE ev (id TEXT, name TEXT, seats INTEGER)")
    db.executemany("INSERT INTO ev VALUES (?, ?, ?)", [(f"e{i}", f"n{i}", i) for i in range(2500)])
    return db.execute(sql)


def test_rows_from_cursor_streams_in_fetch_size_batches() -> None:
    rows = list(rows_from_cursor(_cursor("SELECT id, name, seats FROM ev ORDER BY seats"), fetch_size=1000))
    assert len(rows) == 2500
    assert rows[0] == SourceRow(1, None, {"id": "e0", "name": "n0", "seats": 0})
    assert rows[-1].position == 2500
    assert rows[-1].data == {"id": "e2499", "name": "n2499", "seats": 2499}


def test_rows_from_cursor_empty_result() -> None:
    assert list(rows_from_cursor(_cursor("SELECT id FROM ev WHERE 0"))) == []


@pytest.mark.parametrize(
    ("sql", "match"),
    [
        ("UPDATE ev SET seats = 0", "no result set"),
        ("SELECT id, name AS id FROM ev", "same name"),
    ],
)
def test_rows_from_cursor_refuses(sql: str, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        list(rows_from_cursor(_cursor(sql), source="sql on connection 'wh'"))
    assert info.value.source == "sql on connection 'wh'"
