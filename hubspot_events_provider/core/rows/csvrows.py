"""The CSV reader: a header line naming every column, then one row per record; the delimiter is
detected from the header when not given."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterator

from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.rows.identity import SourceRow

__all__ = ["CSV_DELIMITERS", "csv_rows"]

#: CSV delimiters tried on the header line when ``delimiter`` is not given.
CSV_DELIMITERS = (",", ";", "\t", "|")


def _sniff_delimiter(header: str) -> str:
    """The candidate delimiter the header line holds most often outside quotes (``,`` on a tie)."""
    outside = "".join(part for index, part in enumerate(header.split('"')) if index % 2 == 0)
    counts = {d: outside.count(d) for d in CSV_DELIMITERS}
    best = max(CSV_DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def csv_rows(
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
