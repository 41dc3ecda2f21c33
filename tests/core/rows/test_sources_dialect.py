"""File dialects (issue 16 friction): CSV delimiter detection, encodings, byte-order marks, and the
mapper's optional ``date_format`` for day-first dates."""

from __future__ import annotations

import gzip
import io
from typing import Any

import pytest

from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import check_file_options, rows_from_file

ROWS = [{"event_id": "e1", "name": "Café"}, {"event_id": "e2", "name": "Zoë"}]


def read(data: bytes, name: str, **kwargs: Any) -> tuple[list[Any], list[str]]:
    notes: list[str] = []
    rows = rows_from_file(lambda: io.BytesIO(data), name=name, on_detect=notes.append, **kwargs)
    return [r.data for r in rows], notes


def csv_text(delimiter: str) -> str:
    lines = [delimiter.join(("event_id", "name"))] + [
        delimiter.join((r["event_id"], r["name"])) for r in ROWS
    ]
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize(("delimiter", "said"), [(";", "';'"), ("\t", "tab"), ("|", "'|'")])
def test_a_non_comma_csv_is_detected_and_said(delimiter: str, said: str) -> None:
    rows, notes = read(csv_text(delimiter).encode(), "events.csv")
    assert rows == ROWS
    assert notes == [
        f"events.csv: CSV delimiter {said} detected from the header (pass delimiter=',' to override)"
    ]


def test_comma_csv_says_nothing_and_quoted_semicolons_do_not_fool_the_sniffer() -> None:
    rows, notes = read(b'event_id,name\ne1,"a;b;c"\n', "events.csv")
    assert rows == [{"event_id": "e1", "name": "a;b;c"}]
    assert notes == []


def test_a_wrong_explicit_delimiter_is_named_not_reported_as_one_unmapped_key() -> None:
    with pytest.raises(InputError) as info:
        read(csv_text(";").encode(), "events.csv", delimiter=",")
    message = str(info.value)
    assert "the CSV header is one column 'event_id;name' holding ';'" in message
    assert "pass delimiter=';'" in message
    assert info.value.line == 1


@pytest.mark.parametrize(
    ("codec", "label"),
    [
        ("utf-16", "UTF-16 (little-endian)"),
        ("utf-16-be", "UTF-16 (big-endian)"),
        ("utf-32", "UTF-32 (little-endian)"),
    ],
)
@pytest.mark.parametrize("name", ["events.csv", "events.jsonl", "events.json"])
def test_a_utf16_or_utf32_byte_order_mark_is_named_and_read(codec: str, label: str, name: str) -> None:
    if name.endswith(".csv"):
        text = csv_text(",")
    elif name.endswith(".jsonl"):
        text = '{"event_id": "e1", "name": "Café"}\n{"event_id": "e2", "name": "Zoë"}\n'
    else:
        text = '[{"event_id": "e1", "name": "Café"},\n {"event_id": "e2", "name": "Zoë"}]'
    data = text.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    rows, notes = read(gzip.compress(data), name)
    assert rows == ROWS
    assert notes == [f"{name}: a {label} byte-order mark: reading the file as {codec[:6].upper()}"]


def test_a_byte_order_mark_contradicting_the_encoding_is_named() -> None:
    with pytest.raises(InputError, match=r"UTF-16 \(little-endian\) byte-order mark but encoding='utf-8'"):
        read(csv_text(",").encode("utf-16"), "events.csv", encoding="utf-8")


def test_utf16_without_a_byte_order_mark_is_named() -> None:
    with pytest.raises(
        InputError, match="looks like UTF-16 \\(little-endian\\) text without a byte-order mark"
    ):
        read(csv_text(",").encode("utf-16-le"), "events.csv")
    rows, _ = read(csv_text(",").encode("utf-16-le"), "events.csv", encoding="utf-16-le")
    assert rows == ROWS


@pytest.mark.parametrize("name", ["events.csv", "events.jsonl", "events.json"])
def test_an_explicit_encoding_reads_cp1252(name: str) -> None:
    if name.endswith(".csv"):
        text = csv_text(";")
    elif name.endswith(".jsonl"):
        text = '{"event_id": "e1", "name": "Café"}\n{"event_id": "e2", "name": "Zoë"}\n'
    else:
        text = '[{"event_id": "e1", "name": "Café"}, {"event_id": "e2", "name": "Zoë"}]'
    with pytest.raises(InputError, match=r"not UTF-8 text.*pass encoding"):
        read(text.encode("cp1252"), name)
    rows, _ = read(text.encode("cp1252"), name, encoding="cp1252")
    assert rows == ROWS


def test_a_bad_byte_in_an_explicit_encoding_names_its_line() -> None:
    data = (
        "event_id,name\ne1,ok\n".encode("utf-16") + "e2,".encode("utf-16-le") + b"\x00\xd8"
    )  # lone surrogate
    with pytest.raises(InputError, match="is not utf-16 text") as info:
        read(data, "events.csv", encoding="utf-16")
    assert info.value.line == 3


@pytest.mark.parametrize(
    ("delimiter", "encoding", "message"),
    [
        (";;", None, "one character"),
        ("\n", None, "one character"),
        (None, "klingon", "not a known text encoding"),
    ],
)
def test_file_options_are_checked(delimiter: str | None, encoding: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_file_options(delimiter, encoding)


# --- date_format ---------------------------------------------------------------------------------


def test_date_format_reads_day_first_dates_and_keeps_iso() -> None:
    mapper = EventMapper(date_format="%d/%m/%Y %H:%M", timezone="Europe/Paris")
    base = {"externalAccountId": "a", "externalEventId": "e", "eventName": "n", "eventOrganizer": "o"}
    mapped = mapper.map_row(
        {**base, "startDateTime": "01/02/2026 10:00", "endDateTime": "2026-02-01T12:00:00Z"}
    )
    assert mapped.errors == []
    assert mapped.payload is not None
    assert mapped.payload["startDateTime"] == "2026-02-01T09:00:00Z"  # 1 February, Paris time
    assert mapped.payload["endDateTime"] == "2026-02-01T12:00:00Z"
    bad = mapper.map_row({**base, "startDateTime": "31/02/2026 10:00"})
    assert [(e.field, e.category) for e in bad.errors] == [("startDateTime", "INVALID_DATETIME")]
    assert "date_format '%d/%m/%Y %H:%M'" in bad.errors[0].message


def test_without_date_format_a_day_first_date_is_refused_not_guessed() -> None:
    base = {"externalAccountId": "a", "externalEventId": "e", "eventName": "n", "eventOrganizer": "o"}
    mapped = EventMapper().map_row({**base, "startDateTime": "13/02/2026 10:00"})
    assert [e.category for e in mapped.errors] == ["INVALID_DATETIME"]


@pytest.mark.parametrize("fmt", ["no directive", "%Q/%m"])
def test_a_bad_date_format_is_refused_at_construction(fmt: str) -> None:
    with pytest.raises(ValueError, match="date_format"):
        EventMapper(date_format=fmt)


def test_a_bad_value_names_the_source_column_and_the_field() -> None:
    mapper = EventMapper(
        field_map={"starts_at": "startDateTime", "id": "externalEventId", "flag": "eventCancelled"}
    )
    row = {"externalAccountId": "a", "id": "e", "eventName": "n", "eventOrganizer": "o"}
    mapped = mapper.map_row({**row, "starts_at": "next tuesday", "flag": "maybe"})
    messages = {e.field: e.message for e in mapped.errors}
    assert messages["startDateTime"].startswith("startDateTime (from column 'starts_at'): ")
    assert "'next tuesday'" in messages["startDateTime"]
    assert messages["eventCancelled"].startswith("eventCancelled (from column 'flag'): ")
    same_name = EventMapper().map_row({**row, "externalEventId": "e", "startDateTime": "next tuesday"})
    assert "from column" not in same_name.errors[0].message  # the field's own name: said once
