"""Synthetic warehouse rows for the benchmarks, written as JSONL, CSV or SQLite.

Rows look like a warehouse extract (snake_case columns, naive local timestamps, a custom
property), so our mapper does real work: renaming, timezone normalisation and validation. The
baselines get the same events already in HubSpot's shape (:func:`hubspot_input`), since none of
them maps or validates anything.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "COLUMNS",
    "CUSTOM_PROPERTIES",
    "FIELD_MAP",
    "hubspot_input",
    "make_row",
    "rows",
    "write_csv",
    "write_jsonl",
    "write_sqlite",
]

#: Warehouse column -> HubSpot field, as a user would pass it to ``EventMapper(field_map=...)``.
FIELD_MAP: dict[str, str] = {
    "event_id": "externalEventId",
    "account_id": "externalAccountId",
    "name": "eventName",
    "organizer": "eventOrganizer",
    "event_type": "eventType",
    "starts_at": "startDateTime",
    "ends_at": "endDateTime",
    "description": "eventDescription",
    "url": "eventUrl",
    "cancelled": "eventCancelled",
}
CUSTOM_PROPERTIES: tuple[str, ...] = ("region",)
COLUMNS: tuple[str, ...] = (*FIELD_MAP, *CUSTOM_PROPERTIES)

_TYPES = ("WEBINAR", "CONFERENCE", "WORKSHOP", "MEETUP")
_REGIONS = ("emea", "amer", "apac")
_BASE = dt.datetime(2026, 1, 5, 9, 0, 0)


def make_row(i: int, prefix: str = "ev") -> dict[str, Any]:
    """One warehouse row; deterministic in ``i``.

    :param i: row number (0-based); it makes the external event id unique.
    :param prefix: prefix of the external event id (distinct per process in the shared-budget case).
    """
    start = _BASE + dt.timedelta(hours=7 * i)
    return {
        "event_id": f"{prefix}-{i:08d}",
        "account_id": f"acct-{i % 7}",
        "name": f"Webinar #{i}: pipelines in practice",
        "organizer": "Data Team",
        "event_type": _TYPES[i % len(_TYPES)],
        "starts_at": start.strftime("%Y-%m-%d %H:%M:%S"),
        "ends_at": (start + dt.timedelta(minutes=45 + i % 60)).strftime("%Y-%m-%d %H:%M:%S"),
        "description": "A recurring session on building reliable data pipelines with Airflow.",
        "url": f"https://events.example.com/e/{i}",
        "cancelled": "false" if i % 50 else "true",
        "region": _REGIONS[i % len(_REGIONS)],
    }


def rows(n: int, prefix: str = "ev") -> Iterator[dict[str, Any]]:
    """``n`` rows, numbered 0..n-1.

    :param n: number of rows.
    :param prefix: external event id prefix.
    """
    for i in range(n):
        yield make_row(i, prefix)


def hubspot_input(row: dict[str, Any]) -> dict[str, Any]:
    """The same event in HubSpot's upsert shape (camelCase, UTC ``Z`` timestamps, ``{name, value}``).

    :param row: a row from :func:`make_row`.
    """
    event: dict[str, Any] = {}
    for column, hub in FIELD_MAP.items():
        value = row[column]
        if column in ("starts_at", "ends_at"):
            value = value.replace(" ", "T") + "Z"
        elif column == "cancelled":
            value = value == "true"
        event[hub] = value
    event["customProperties"] = [{"name": p, "value": row[p]} for p in CUSTOM_PROPERTIES]
    return event


def write_jsonl(path: Path, n: int, prefix: str = "ev") -> Path:
    """Write ``n`` rows as JSON Lines.

    :param path: target file.
    :param n: number of rows.
    :param prefix: external event id prefix.
    """
    with path.open("w", encoding="utf-8") as fh:
        for row in rows(n, prefix):
            fh.write(json.dumps(row, separators=(",", ":")))
            fh.write("\n")
    return path


def write_csv(path: Path, n: int, prefix: str = "ev") -> Path:
    """Write ``n`` rows as CSV with a header line.

    :param path: target file.
    :param n: number of rows.
    :param prefix: external event id prefix.
    """
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows(n, prefix))
    return path


def write_sqlite(path: Path, n: int, prefix: str = "ev") -> Path:
    """Write ``n`` rows into table ``events`` of a SQLite database (a stand-in for a warehouse).

    :param path: target database file.
    :param n: number of rows.
    :param prefix: external event id prefix.
    """
    con = sqlite3.connect(path)
    try:
        cols = ", ".join(f"{c} TEXT" for c in COLUMNS)
        con.execute("DROP TABLE IF EXISTS events")
        con.execute(f"CREATE TABLE events ({cols})")
        marks = ", ".join("?" for _ in COLUMNS)
        con.executemany(
            f"INSERT INTO events VALUES ({marks})",
            ([row[c] for c in COLUMNS] for row in rows(n, prefix)),
        )
        con.commit()
    finally:
        con.close()
    return path
