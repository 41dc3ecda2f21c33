"""A small, deterministic SQLite "warehouse" of marketing events for the demo and the tests.

:func:`build_warehouse` writes the table ``marketing_events`` the example DAGs read: a few hundred
realistic webinars, conferences and workshops (some with the custom properties ``region`` and
``capacity``), plus a few rows that are wrong on purpose so the demo shows the rejected file at
work: an end before its start, an unparseable date, a missing name, and one event exported twice
(the later row wins, the earlier one is reported as superseded).

Times are stored as ``'YYYY-MM-DD HH:MM:SS'`` UTC text, which sorts and compares correctly as
text in every SQL dialect, so the incremental query needs no dialect-specific date functions.
:func:`expected_events` says exactly what HubSpot must hold after a sync, so tests assert values.

Run ``python -m dags_example.warehouse PATH`` to build one by hand.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import random
import sqlite3
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ACCOUNT_ID",
    "DAY",
    "EXPORT_KEYS",
    "PARTITIONS",
    "build_warehouse",
    "expected_events",
    "export_file",
    "generate_rows",
    "partition_of",
    "update_event",
]

ACCOUNT_ID = "acme-events"
"""``externalAccountId`` of every demo event (the account in the upstream event platform)."""
DAY = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
"""Every row's ``updated_at`` falls in ``[DAY, DAY + 1 day)``: one daily data interval."""
PARTITIONS = 4
"""``partition_key`` is ``crc32(account/event id) % 1024``; the scale-out DAG splits on it."""

COLUMNS = (
    "event_id",
    "account_id",
    "event_name",
    "event_type",
    "organizer",
    "description",
    "event_url",
    "starts_at",
    "ends_at",
    "cancelled",
    "completed",
    "region",
    "capacity",
    "updated_at",
    "partition_key",
)

_DDL = """
CREATE TABLE marketing_events (
    event_id      TEXT,
    account_id    TEXT NOT NULL,
    event_name    TEXT,
    event_type    TEXT,
    organizer     TEXT,
    description   TEXT,
    event_url     TEXT,
    starts_at     TEXT,
    ends_at       TEXT,
    cancelled     INTEGER NOT NULL DEFAULT 0,
    completed     INTEGER NOT NULL DEFAULT 0,
    region        TEXT,
    capacity      INTEGER,
    updated_at    TEXT NOT NULL,
    partition_key INTEGER NOT NULL
)
"""

_TOPICS = (
    "Lakehouse Fundamentals",
    "Reverse ETL in Practice",
    "Attribution Without Cookies",
    "Scaling dbt Projects",
    "Customer 360 with HubSpot",
    "Data Contracts 101",
    "Product-Led Growth Analytics",
    "Event Streaming for Marketers",
    "Privacy-First Personalisation",
    "Forecasting Pipeline Revenue",
    "Building a Metrics Layer",
    "Lifecycle Email That Converts",
)
_KINDS = {
    "WEBINAR": ("Webinar", 60, 90),
    "CONFERENCE": ("Summit", 480, 540),
    "WORKSHOP": ("Hands-on Workshop", 180, 240),
}
_ORGANIZERS = ("Acme Data Academy", "Acme Events Team", "Northwind Partners", "Acme Developer Relations")
_CITIES = {
    "EMEA": ("Berlin", "London", "Amsterdam", "Paris"),
    "NA": ("Boston", "Austin", "Toronto", "Chicago"),
    "APAC": ("Singapore", "Sydney", "Tokyo", "Bangalore"),
}
_REGIONS = tuple(_CITIES)


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def partition_of(account_id: str, event_id: str) -> int:
    """A stable hash of the event key, so every row of one event lands in the same partition."""
    return zlib.crc32(f"{account_id}/{event_id}".encode()) % 1024


@dataclass(frozen=True)
class _Event:
    index: int
    event_id: str
    name: str
    kind: str
    organizer: str
    description: str
    url: str
    starts: dt.datetime
    ends: dt.datetime
    region: str | None
    capacity: int | None
    updated: dt.datetime


def _events(count: int) -> Iterator[_Event]:
    rng = random.Random(20250601)
    for index in range(count):
        kind = ("WEBINAR", "CONFERENCE", "WORKSHOP")[index % 3]
        label, low, high = _KINDS[kind]
        topic = _TOPICS[rng.randrange(len(_TOPICS))]
        region = _REGIONS[rng.randrange(len(_REGIONS))]
        city = _CITIES[region][rng.randrange(4)]
        starts = dt.datetime(2025, 7, 1, tzinfo=dt.UTC) + dt.timedelta(
            days=rng.randrange(150), hours=rng.choice((8, 9, 13, 15, 17))
        )
        ends = starts + dt.timedelta(minutes=rng.randrange(low, high + 1, 15))
        name = f"{topic} {label}" if kind == "WEBINAR" else f"{topic} {label} {city}"
        event_id = f"{kind[:3].lower()}-{2025}-{index + 1:04d}"
        slug = event_id.replace("-", "")
        has_props = index % 4 != 0  # three events in four carry the custom properties
        yield _Event(
            index=index,
            event_id=event_id,
            name=name,
            kind=kind,
            organizer=_ORGANIZERS[rng.randrange(len(_ORGANIZERS))],
            description=f"{label} on {topic.lower()}"
            + ("" if kind == "WEBINAR" else f", in {city}")
            + f", {starts:%B %-d, %Y}.",
            url=f"https://events.acme.example/{kind.lower()}s/{slug}",
            starts=starts,
            ends=ends,
            region=region if has_props else None,
            capacity=(
                rng.choice((100, 250, 500, 1000)) if kind == "WEBINAR" else rng.choice((40, 80, 120, 400))
            )
            if has_props
            else None,
            updated=DAY + dt.timedelta(seconds=int(index * 86000 / max(count, 1))),
        )


def _row(event: _Event, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": event.event_id,
        "account_id": ACCOUNT_ID,
        "event_name": event.name,
        "event_type": event.kind,
        "organizer": event.organizer,
        "description": event.description,
        "event_url": event.url,
        "starts_at": _stamp(event.starts),
        "ends_at": _stamp(event.ends),
        "cancelled": 0,
        "completed": 0,
        "region": event.region,
        "capacity": event.capacity,
        "updated_at": _stamp(event.updated),
        "partition_key": partition_of(ACCOUNT_ID, event.event_id),
    }
    row.update(changes)
    return row


#: Rows wrong on purpose: event index -> (changes, the reason the operator must give).
INVALID: dict[int, tuple[dict[str, Any], str]] = {
    17: (
        {"ends_at": "2025-07-03 08:00:00", "starts_at": "2025-07-03 10:00:00"},
        "endDateTime before startDateTime",
    ),
    58: ({"starts_at": "next Tuesday-ish"}, "unparseable startDateTime"),
    123: ({"event_name": None}, "missing eventName"),
}
DUPLICATE = 200
"""This event is exported twice; the first row carries a stale name and is superseded."""


def generate_rows(count: int = 300) -> list[dict[str, Any]]:
    """Every warehouse row, in insertion order (``count`` events, plus one duplicate row).

    :param count: number of distinct events (at least 201, so the invalid and duplicate rows exist).
    """
    if count <= DUPLICATE:
        raise ValueError(f"count must be more than {DUPLICATE}, got {count}")
    rows: list[dict[str, Any]] = []
    for event in _events(count):
        if event.index == DUPLICATE:
            stale = event.updated - dt.timedelta(hours=2)
            rows.append(_row(event, event_name=f"{event.name} (draft)", updated_at=_stamp(stale)))
        changes = INVALID.get(event.index, ({}, ""))[0]
        rows.append(_row(event, **changes))
    return rows


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    def iso(text: str) -> str:
        return text.replace(" ", "T") + "Z"

    custom = {name: str(row[name]) for name in ("region", "capacity") if row[name] is not None}
    return {
        "externalAccountId": row["account_id"],
        "externalEventId": row["event_id"],
        "eventName": row["event_name"],
        "eventOrganizer": row["organizer"],
        "eventType": row["event_type"],
        "eventDescription": row["description"],
        "eventUrl": row["event_url"],
        "startDateTime": iso(row["starts_at"]),
        "endDateTime": iso(row["ends_at"]),
        "eventCancelled": bool(row["cancelled"]),
        "eventCompleted": bool(row["completed"]),
        "customProperties": custom,
    }


def expected_events(database: str | Path) -> dict[tuple[str, str], dict[str, Any]]:
    """What HubSpot must hold after syncing ``database``: valid rows, the latest row per key.

    :param database: the SQLite file built by :func:`build_warehouse` (and maybe :func:`update_event`).
    :returns: ``(externalAccountId, externalEventId)`` -> HubSpot fields, ``customProperties`` as
        a ``{name: value}`` dict, datetimes as RFC 3339 UTC text.
    """
    invalid_ids = {
        f"{('WEBINAR', 'CONFERENCE', 'WORKSHOP')[i % 3][:3].lower()}-2025-{i + 1:04d}" for i in INVALID
    }
    with sqlite3.connect(database) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM marketing_events ORDER BY updated_at")]
    latest = {(r["account_id"], r["event_id"]): r for r in rows}
    return {key: _payload(row) for key, row in latest.items() if key[1] not in invalid_ids}


def build_warehouse(database: str | Path, count: int = 300) -> Path:
    """Create (or replace) the SQLite warehouse file with the ``marketing_events`` table.

    :param database: path of the SQLite file; its folder is created.
    :param count: number of distinct events.
    :returns: the path.
    """
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute(_DDL)
        conn.execute("CREATE INDEX marketing_events_updated_at ON marketing_events (updated_at)")
        placeholders = ", ".join(f":{name}" for name in COLUMNS)
        conn.executemany(
            f"INSERT INTO marketing_events ({', '.join(COLUMNS)}) VALUES ({placeholders})",
            generate_rows(count),
        )
    return path


def update_event(database: str | Path, event_id: str, updated_at: dt.datetime, **changes: Any) -> None:
    """Change one event's columns and bump its ``updated_at``, as the upstream system would.

    :param database: the SQLite file.
    :param event_id: the event to change.
    :param updated_at: the new ``updated_at`` (aware, UTC).
    :param changes: column -> new value.
    """
    values = {**changes, "updated_at": _stamp(updated_at.astimezone(dt.UTC))}
    assignments = ", ".join(f"{name} = :{name}" for name in values if name in COLUMNS)
    with sqlite3.connect(database) as conn:
        cursor = conn.execute(
            f"UPDATE marketing_events SET {assignments} WHERE event_id = :event_id",
            {**values, "event_id": event_id},
        )
        if cursor.rowcount == 0:
            raise KeyError(event_id)


#: warehouse column -> key in the upstream event platform's export files (pipeline 2's input).
EXPORT_KEYS = {
    "event_id": "id",
    "account_id": "account",
    "event_name": "title",
    "event_type": "format",
    "organizer": "host",
    "description": "summary",
    "event_url": "url",
    "starts_at": "starts",
    "ends_at": "ends",
    "cancelled": "cancelled",
    "completed": "completed",
    "region": "region",
    "capacity": "seats",
}


def export_file(database: str | Path, path: str | Path) -> Path:
    """Write the warehouse rows as the upstream platform's export: JSON Lines or CSV (``.gz`` too).

    Datetimes become ISO 8601 with an offset, booleans ``true``/``false``; ``updated_at`` and
    ``partition_key`` are left out. The format comes from the file name.

    :param database: the SQLite file built by :func:`build_warehouse`.
    :param path: the file to write (``.jsonl``, ``.csv``, optionally ``.gz``); its folder is created.
    :returns: the path.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(database) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM marketing_events ORDER BY updated_at")]
    records: list[dict[str, Any]] = []
    for row in rows:
        record: dict[str, Any] = {}
        for column, key in EXPORT_KEYS.items():
            value = row[column]
            if column in ("starts_at", "ends_at") and isinstance(value, str) and value[:4].isdigit():
                value = value.replace(" ", "T") + "+00:00"
            elif column in ("cancelled", "completed"):
                value = bool(value)
            record[key] = value
        records.append(record)
    name = target.name.removesuffix(".gz")
    opener = gzip.open if target.name.endswith(".gz") else open
    with opener(target, "wt", encoding="utf-8", newline="") as handle:
        if name.endswith(".csv"):
            writer = csv.DictWriter(handle, fieldnames=list(EXPORT_KEYS.values()))
            writer.writeheader()
            for record in records:
                writer.writerow(
                    {
                        k: "" if v is None else str(v).lower() if isinstance(v, bool) else v
                        for k, v in record.items()
                    }
                )
        else:
            for record in records:
                handle.write(json.dumps(record) + "\n")
    return target


if __name__ == "__main__":
    target = build_warehouse(sys.argv[1] if len(sys.argv) > 1 else "warehouse.db")
    print(f"built {target}: {len(generate_rows())} rows")
