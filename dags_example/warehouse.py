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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ACCOUNT_ID",
    "ATTENDANCE_ACCOUNT_ID",
    "ATTENDANCE_CONTACT_PROPERTIES",
    "ATTENDANCE_FIELD_MAP",
    "ATTENDANCE_IGNORE_FIELDS",
    "DAY",
    "EXISTING_CONTACTS",
    "EXPORT_KEYS",
    "PARTITIONS",
    "WEBINAR_DEFAULTS",
    "WEBINAR_FIELD_MAP",
    "ExpectedAttendance",
    "build_attendance",
    "build_warehouse",
    "expected_attendance",
    "expected_events",
    "export_attendance_file",
    "export_file",
    "generate_attendance_rows",
    "generate_rows",
    "generate_webinars",
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


# -- webinars and their attendance (a Zoom-like export) --------------------------------------------

ATTENDANCE_ACCOUNT_ID = "acme-zoom"
"""``externalAccountId`` of the webinars (the account in the webinar platform)."""
#: Contacts the sandbox seeds (``SandboxConfig.seed_contacts``): the export names some of them by
#: email with other names (HubSpot must leave them untouched) and some by HubSpot contact id.
EXISTING_CONTACTS = (
    ("erin.existing@example.com", 47733471576),
    ("omar.onfile@example.org", 86097279137),
    ("big.vid@example.com", 9007199254740993),
)
#: Source column -> HubSpot event field, for upserting ``webinars`` as marketing events.
WEBINAR_FIELD_MAP = {
    "webinar_id": "externalEventId",
    "account_id": "externalAccountId",
    "topic": "eventName",
    "host": "eventOrganizer",
    "start_time": "startDateTime",
    "end_time": "endDateTime",
    "join_url": "eventUrl",
}
WEBINAR_DEFAULTS = {"eventType": "WEBINAR"}
#: Source column -> attendance field, for recording ``webinar_attendance``.
ATTENDANCE_FIELD_MAP = {
    "webinar_id": "externalEventId",
    "account_id": "externalAccountId",
    "action": "subscriberState",
    "email": "email",
    "hubspot_contact_id": "vid",
    "action_at": "interactionDateTime",
    "join_time": "joinedAt",
    "leave_time": "leftAt",
}
ATTENDANCE_CONTACT_PROPERTIES = {"first_name": "firstname", "last_name": "lastname", "company": "company"}
ATTENDANCE_IGNORE_FIELDS = ["row_id"]

WEBINAR_COLUMNS = ("webinar_id", "account_id", "topic", "host", "start_time", "end_time", "join_url")
ATTENDANCE_COLUMNS = (
    "row_id",
    "webinar_id",
    "account_id",
    "action",
    "email",
    "hubspot_contact_id",
    "first_name",
    "last_name",
    "company",
    "action_at",
    "join_time",
    "leave_time",
)
_WEBINAR_DDL = """
CREATE TABLE webinars (
    webinar_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, topic TEXT NOT NULL, host TEXT NOT NULL,
    start_time TEXT NOT NULL, end_time TEXT NOT NULL, join_url TEXT
)
"""
_ATTENDANCE_DDL = """
CREATE TABLE webinar_attendance (
    row_id TEXT PRIMARY KEY, webinar_id TEXT, account_id TEXT NOT NULL, action TEXT, email TEXT,
    hubspot_contact_id INTEGER, first_name TEXT, last_name TEXT, company TEXT, action_at TEXT,
    join_time TEXT, leave_time TEXT
)
"""
_FIRST = ("Ava", "Ben", "Chloe", "Dev", "Elif", "Femi", "Gus", "Hana", "Ivo", "Jules", "Kai", "Lena")
_LAST = ("Okafor", "Schmidt", "Tanaka", "Moreau", "Silva", "Nguyen", "Kowalski", "Haddad", "Berg")
_COMPANIES = ("Northwind", "Globex", "Initech", "Umbrella Analytics", None)
_UNKNOWN_WEBINAR = "89999999999"
_UNKNOWN_CONTACT_ID = 424242424242
_STATE_OF_ACTION = {"register": "REGISTERED", "attend": "ATTENDED", "cancel": "CANCELLED"}
_ACTION_OF = {
    "register": "register",
    "registered": "register",
    "attend": "attend",
    "attended": "attend",
    "cancelled": "cancel",
}


def _zulu(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1000


def generate_webinars(count: int = 4) -> list[dict[str, Any]]:
    """The ``webinars`` rows: ids are Zoom-like 11-digit numbers kept as text.

    :param count: number of webinars.
    """
    rng = random.Random(20250610)
    rows = []
    for index in range(count):
        starts = dt.datetime(2025, 6, 3 + 2 * index, 15, 0, tzinfo=dt.UTC)
        webinar_id = str(81_000_000_000 + rng.randrange(10**9))
        rows.append(
            {
                "webinar_id": webinar_id,
                "account_id": ATTENDANCE_ACCOUNT_ID,
                "topic": f"{_TOPICS[index % len(_TOPICS)]} Live",
                "host": _ORGANIZERS[index % len(_ORGANIZERS)],
                "start_time": _stamp(starts),
                "end_time": _stamp(starts + dt.timedelta(minutes=60)),
                "join_url": f"https://acme.zoom.example/w/{webinar_id}",
            }
        )
    return rows


@dataclass(frozen=True)
class _Person:
    email: str | None
    vid: int | None
    first: str
    last: str
    company: str | None


def _people(count: int) -> list[_Person]:
    rng = random.Random(7)
    people = []
    for index in range(count):
        first, last = _FIRST[index % len(_FIRST)], _LAST[rng.randrange(len(_LAST))]
        domain = ("example.com", "example.org", "example.net")[index % 3]
        email = f"{first}.{last}{index}@{domain}"
        people.append(
            _Person(email if index % 5 else email.lower(), None, first, last, rng.choice(_COMPANIES))
        )
    return people


@dataclass
class ExpectedAttendance:
    """What HubSpot must hold after recording the export (and what the run must report).

    :param participations: ``(account, webinar id, contact)`` -> ``state`` (REGISTERED, ATTENDED,
        CANCELLED), ``occurredAt`` (epoch ms), ``joinedAt`` / ``leftAt`` (RFC 3339 or ``None``);
        the contact is the email case-folded or the HubSpot contact id (int).
    :param counters: ``(account, webinar id)`` -> ``{registered, attended, cancelled, noShows}``
        before ``/complete`` (after it, ``registered`` become ``noShows``).
    :param rejected: ``row_id`` -> category of every row not recorded (validation or HubSpot).
    :param superseded: ``row_id`` of the rows a later row of the same (event, contact, state) replaced.
    :param new_contacts: email (case-folded) -> properties HubSpot must create the contact with.
    :param durations: ``(account, webinar id, contact)`` -> attendance seconds after ``/complete``.
    """

    participations: dict[tuple[str, str, str | int], dict[str, Any]] = field(default_factory=dict)
    counters: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    superseded: set[str] = field(default_factory=set)
    new_contacts: dict[str, dict[str, str]] = field(default_factory=dict)
    durations: dict[tuple[str, str, str | int], int] = field(default_factory=dict)


def generate_attendance_rows(webinars: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every ``webinar_attendance`` row, in export order (see :func:`_attendance_plan`)."""
    return [row for row, _ in _attendance_plan(webinars or generate_webinars())]


def _attendance_plan(webinars: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str | None]]:
    """Rows with the category each bad row must be refused with (``None`` for a good row).

    Per webinar: registrations (a week before), attendance of about two thirds with join / leave
    times (one attendee re-joined: two rows, the later wins), a few cancellations and walk-ins who
    never registered. Some rows name existing HubSpot contacts (by email, with other names; by id).
    The bad rows: an invalid email, leave before join, an unknown action, a missing time, both email
    and contact id, join time on a registration, a contact id HubSpot does not have, a webinar
    HubSpot does not know.
    """
    rng = random.Random(20250611)
    people = _people(60)
    planned: list[tuple[dict[str, Any], str | None]] = []

    def add(
        webinar: dict[str, Any],
        action: str,
        person: _Person,
        at: dt.datetime,
        bad: str | None = None,
        **extra: Any,
    ) -> None:
        row = {
            "row_id": f"r{len(planned) + 1:04d}",
            "webinar_id": webinar["webinar_id"],
            "account_id": ATTENDANCE_ACCOUNT_ID,
            "action": action,
            "email": person.email,
            "hubspot_contact_id": person.vid,
            "first_name": person.first,
            "last_name": person.last,
            "company": person.company,
            "action_at": _stamp(at),
            "join_time": None,
            "leave_time": None,
        }
        row.update(extra)
        planned.append((row, bad))

    for index, webinar in enumerate(webinars):
        starts = dt.datetime.fromisoformat(webinar["start_time"]).replace(tzinfo=dt.UTC)
        registrants = rng.sample(people[:48], 14)
        if index == 0:  # existing contacts attend the first webinar (first of them re-joins)
            erin, omar, big = EXISTING_CONTACTS
            registrants = [
                _Person(erin[0].upper(), None, "Someone", "Else", "Not Updated Inc"),
                _Person(None, omar[1], "Omar", "Onfile", None),
                _Person(None, big[1], "Bea", "Big", None),
                *registrants,
            ]
        for n, person in enumerate(registrants):
            add(
                webinar,
                ("registered", "REGISTER", "Registered")[n % 3],
                person,
                starts - dt.timedelta(days=7, minutes=n),
            )
        attendees = registrants[: len(registrants) * 2 // 3]
        walk_ins = people[48 + 2 * index : 50 + 2 * index]
        for n, person in enumerate([*attendees, *walk_ins]):
            joined = starts + dt.timedelta(minutes=rng.randrange(0, 10), seconds=rng.randrange(60))
            left = min(
                joined + dt.timedelta(minutes=rng.randrange(10, 70)), starts + dt.timedelta(minutes=65)
            )
            if n == 0:  # re-joined: an early short session first, superseded by the later row
                add(
                    webinar,
                    "attended",
                    person,
                    joined,
                    "superseded",
                    join_time=_zulu(joined),
                    leave_time=_zulu(joined + dt.timedelta(minutes=2)),
                )
            add(
                webinar,
                ("attended", "ATTENDED", "attend")[n % 3],
                person,
                joined,
                join_time=_zulu(joined),
                leave_time=_zulu(left),
            )
        for person in registrants[len(attendees) : len(attendees) + 2]:
            add(webinar, "cancelled", person, starts - dt.timedelta(days=1))
    first, second = webinars[0], webinars[1 % len(webinars)]
    starts = dt.datetime.fromisoformat(first["start_time"]).replace(tzinfo=dt.UTC)
    stranger = _Person("stranger@example.com", None, "Sam", "Stranger", None)
    add(first, "registered", _Person("jane.doe@", None, "Jane", "Doe", None), starts, "INVALID_EMAIL")
    add(
        first,
        "attended",
        stranger,
        starts,
        "LEFT_BEFORE_JOINED",
        join_time=_zulu(starts + dt.timedelta(minutes=30)),
        leave_time=_zulu(starts + dt.timedelta(minutes=5)),
    )
    add(first, "waitlisted", stranger, starts, "INVALID_SUBSCRIBER_STATE")
    add(second, "registered", stranger, starts, "MISSING_REQUIRED_FIELD", action_at=None)
    add(second, "registered", _Person("both@example.com", 151, "Bo", "Th", None), starts, "AMBIGUOUS_CONTACT")
    add(second, "registered", stranger, starts, "PROPERTY_NOT_ALLOWED", join_time=_zulu(starts))
    add(
        second,
        "registered",
        _Person(None, _UNKNOWN_CONTACT_ID, "No", "Body", None),
        starts,
        # HubSpot refuses the unknown contact id; by default (the sandbox's row_error_shape="count")
        # its answer only counts the error, so the row is found by elimination, reason unknown.
        "VALIDATION_ERROR",
    )
    add({"webinar_id": _UNKNOWN_WEBINAR}, "registered", stranger, starts, "EVENT_NOT_FOUND")
    return planned


def expected_attendance(webinars: list[dict[str, Any]] | None = None) -> ExpectedAttendance:
    """What HubSpot must hold after recording :func:`generate_attendance_rows` (sent register, then
    attend, then cancel: the latest state wins), and how every other row must be reported.

    :param webinars: the webinars the rows were generated for (default :func:`generate_webinars`).
    """
    webinars = webinars or generate_webinars()
    ends = {w["webinar_id"]: w for w in webinars}
    out = ExpectedAttendance()
    seeded = {vid for _, vid in EXISTING_CONTACTS} | {email for email, _ in EXISTING_CONTACTS}
    for row, bad in _attendance_plan(webinars):
        if bad == "superseded":
            out.superseded.add(row["row_id"])
            continue
        if bad is not None:
            out.rejected[row["row_id"]] = bad
            continue
        action = _ACTION_OF[row["action"].casefold()]
        contact: str | int = row["email"].casefold() if row["email"] else row["hubspot_contact_id"]
        key = (row["account_id"], row["webinar_id"], contact)
        current = out.participations.get(key)
        rank = list(_STATE_OF_ACTION).index(action)
        if current is None or rank >= list(_STATE_OF_ACTION.values()).index(current["state"]):
            joined, left = row["join_time"], row["leave_time"]
            out.participations[key] = {
                "state": _STATE_OF_ACTION[action],
                "occurredAt": _ms(dt.datetime.fromisoformat(row["action_at"]).replace(tzinfo=dt.UTC)),
                "joinedAt": joined if joined is not None else (current or {}).get("joinedAt"),
                "leftAt": left if left is not None else (current or {}).get("leftAt"),
            }
        if isinstance(contact, str) and contact not in seeded and contact not in out.new_contacts:
            props = {"firstname": row["first_name"], "lastname": row["last_name"], "company": row["company"]}
            out.new_contacts[contact] = {k: v for k, v in props.items() if v is not None}
    for (account, webinar_id, contact), part in out.participations.items():
        counts = out.counters.setdefault(
            (account, webinar_id), {"registered": 0, "attended": 0, "cancelled": 0, "noShows": 0}
        )
        counts[
            {"REGISTERED": "registered", "ATTENDED": "attended", "CANCELLED": "cancelled"}[part["state"]]
        ] += 1
        if part["state"] == "ATTENDED" and part["joinedAt"] and part["leftAt"] and webinar_id in ends:
            seconds = dt.datetime.fromisoformat(part["leftAt"]) - dt.datetime.fromisoformat(part["joinedAt"])
            out.durations[(account, webinar_id, contact)] = int(seconds.total_seconds())
    return out


def build_attendance(database: str | Path) -> Path:
    """Add (or replace) the ``webinars`` and ``webinar_attendance`` tables in a SQLite file.

    :param database: the SQLite file (created if missing; other tables are left alone).
    :returns: the path.
    """
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    webinars = generate_webinars()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE IF EXISTS webinars")
        conn.execute("DROP TABLE IF EXISTS webinar_attendance")
        conn.execute(_WEBINAR_DDL)
        conn.execute(_ATTENDANCE_DDL)
        for table, columns, rows in (
            ("webinars", WEBINAR_COLUMNS, webinars),
            ("webinar_attendance", ATTENDANCE_COLUMNS, generate_attendance_rows(webinars)),
        ):
            placeholders = ", ".join(f":{name}" for name in columns)
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows)
    return path


def export_attendance_file(database: str | Path, path: str | Path) -> Path:
    """Write ``webinar_attendance`` as the webinar platform's export: JSON Lines or CSV (``.gz`` too).

    Every column is on every row (empty in CSV, ``null`` in JSON) as warehouse exports do.

    :param database: the SQLite file built by :func:`build_attendance`.
    :param path: the file to write (``.jsonl``, ``.csv``, optionally ``.gz``); its folder is created.
    :returns: the path.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(database) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM webinar_attendance ORDER BY row_id")]
    opener = gzip.open if target.name.endswith(".gz") else open
    with opener(target, "wt", encoding="utf-8", newline="") as handle:
        if target.name.removesuffix(".gz").endswith(".csv"):
            writer = csv.DictWriter(handle, fieldnames=list(ATTENDANCE_COLUMNS))
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
        else:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    return target


if __name__ == "__main__":
    target = build_warehouse(sys.argv[1] if len(sys.argv) > 1 else "warehouse.db")
    print(f"built {target}: {len(generate_rows())} rows")
