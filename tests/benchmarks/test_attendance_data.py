"""The attendance benchmark's generated export is valid for the mapper the measured client uses,
with the documented mix of states and no duplicate (event, contact, state)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from benchmarks.attendance import ACCOUNT, FIELD_MAP, generate
from hubspot_events_provider.core.kinds.attendance.mapper import AttendanceMapper


def test_generated_rows_are_valid_and_unique(tmp_path: Path) -> None:
    path = tmp_path / "att.jsonl"
    assert generate(path, 1000, webinars=3) == 1000
    mapper = AttendanceMapper(
        field_map=FIELD_MAP,
        defaults={"externalAccountId": ACCOUNT},
        contact_properties={"first_name": "firstname", "company": "company"},
    )
    mapped = [mapper.map_row(json.loads(line)) for line in path.read_text().splitlines()]
    assert [m.errors for m in mapped if m.errors] == []
    keys = [m.key for m in mapped]
    assert len(set(keys)) == 1000
    states = Counter(m.payload["subscriberState"] for m in mapped if m.payload is not None)
    assert states["register"] > states["attend"] > states["cancel"] > 0
    assert {m.payload["externalEventId"] for m in mapped if m.payload is not None} == {
        "w0000",
        "w0001",
        "w0002",
    }
