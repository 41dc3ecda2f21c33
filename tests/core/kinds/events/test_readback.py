"""Read-back verification against the sandbox: the results file records what was sent, and a read
of the event finds every field that HubSpot does not hold as sent (a dropped custom property too)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.kinds.events.readback import (
    Mismatch,
    compare_event,
    describe,
    sent_of,
    summarize,
)
from hubspot_events_provider.core.rows.sources import rows_from_events
from hubspot_events_provider.sandbox import SandboxServer
from tests.support import event, make_client, wait_out_read_lag


def upsert(sandbox: SandboxServer, rows: list[dict[str, Any]], mapper: EventMapper) -> list[dict[str, Any]]:
    results_buf = io.BytesIO()
    report = UpsertReport(results=JsonLinesWriter(results_buf))
    client = make_client(sandbox)
    try:
        run_upsert(rows_from_events(rows), mapper, client, report, options=UpsertOptions(batch_size=10))
    finally:
        client.close()
    return [json.loads(line) for line in results_buf.getvalue().splitlines()]


def read_back(sandbox: SandboxServer, line: dict[str, Any]) -> list[Mismatch]:
    wait_out_read_lag(sandbox)  # HubSpot's read lag: the write shows after it
    client = make_client(sandbox)
    try:
        stored = client.get_event(line["externalEventId"], line["externalAccountId"])
    finally:
        client.close()
    sent = sent_of(line)
    assert sent is not None
    return compare_event(sent, stored)


def test_the_results_file_records_what_was_sent_normalised(sandbox: SandboxServer) -> None:
    row = event(1, startDateTime="2026-12-01 11:00:00+01:00", eventCancelled="yes", region="emea", seats=80)
    mapper = EventMapper(custom_properties={"region": "region", "seats": "capacity"})
    (line,) = upsert(sandbox, [row], mapper)
    assert line["sent"] == {
        "eventName": "Webinar 1",
        "eventOrganizer": "Acme Marketing",
        "eventType": "WEBINAR",
        "startDateTime": line["sent"]["startDateTime"],
        "endDateTime": line["sent"]["endDateTime"],
        "eventCancelled": True,
        "customProperties": [{"name": "region", "value": "emea"}, {"name": "capacity", "value": "80"}],
    }
    assert "externalEventId" not in line["sent"]  # on the line already
    # HubSpot holds it all: the instant (sent with an offset, held in UTC), the boolean, the properties.
    assert read_back(sandbox, line) == []


def test_a_custom_property_the_account_does_not_define_is_named_as_dropped(sandbox: SandboxServer) -> None:
    mapper = EventMapper(custom_properties={"region": "regoin", "seats": "capacity"})
    (line,) = upsert(sandbox, [event(2, region="emea", seats=40)], mapper)
    mismatches = read_back(sandbox, line)
    assert mismatches == [Mismatch("customProperties.regoin", "emea", None, dropped=True)]
    message = describe(("acme", "evt-2"), mismatches)
    assert message.startswith(
        "event 'evt-2' (externalAccountId 'acme'): custom property 'regoin' was dropped"
    )
    assert "sent 'emea'" in message


def test_a_value_hubspot_holds_differently_is_named_with_both_values(sandbox: SandboxServer) -> None:
    (line,) = upsert(sandbox, [event(3, region="emea")], EventMapper(custom_properties=["region"]))
    # Someone else changes the event in HubSpot after our upsert.
    upsert(sandbox, [event(3, eventName="Renamed", region="apac")], EventMapper(custom_properties=["region"]))
    mismatches = read_back(sandbox, line)
    assert mismatches == [
        Mismatch("eventName", "Webinar 3", "Renamed"),
        Mismatch("customProperties.region", "emea", "apac"),
    ]
    assert "eventName: sent 'Webinar 3', HubSpot holds 'Renamed'" in describe(("acme", "evt-3"), mismatches)


@pytest.mark.parametrize(
    ("sent", "stored", "differs"),
    [
        ({"startDateTime": "2026-05-01T09:00:00+02:00"}, {"startDateTime": "2026-05-01T07:00:00.000Z"}, []),
        ({"startDateTime": "2026-05-01T09:00:00.123456Z"}, {"startDateTime": "2026-05-01T09:00:00.123Z"}, []),
        (
            {"startDateTime": "2026-05-01T09:00:00Z"},
            {"startDateTime": "2026-05-01T09:00:01Z"},
            ["startDateTime"],
        ),
        ({"endDateTime": "2026-05-01T09:00:00Z"}, {}, ["endDateTime"]),
        ({"eventCompleted": True}, {"eventCompleted": "true"}, []),
        ({"eventCompleted": False}, {"eventCompleted": True}, ["eventCompleted"]),
        ({"eventName": "A"}, {"eventName": "a"}, ["eventName"]),
        (
            {"customProperties": [{"name": "capacity", "value": "80"}]},
            {"customProperties": [{"name": "capacity", "value": "80.0"}]},
            [],
        ),
        (
            {"customProperties": [{"name": "vip", "value": "True"}]},
            {"customProperties": [{"name": "vip", "value": "true"}]},
            [],
        ),
        (
            {"customProperties": [{"name": "when", "value": "2024-05-01T10:00:00+00:00"}]},
            {"customProperties": [{"name": "when", "value": "2024-05-01T10:00:00.000Z"}]},
            [],
        ),
        (
            {"customProperties": [{"name": "x", "value": "1"}]},
            {"customProperties": []},
            ["customProperties.x"],
        ),
        ({"externalEventId": "e1", "externalAccountId": "a"}, {}, []),
    ],
)
def test_values_are_compared_normalised_the_same_way(
    sent: dict[str, Any], stored: dict[str, Any], differs: list[str]
) -> None:
    assert [m.field for m in compare_event(sent, stored)] == differs


def test_summarize_names_each_dropped_property_once_then_the_other_differences() -> None:
    differs = {
        ("acme", f"e{i}"): [Mismatch("customProperties.capcity", str(i), None, dropped=True)]
        for i in range(7)
    }
    differs[("acme", "e3")].append(Mismatch("eventName", "A", "B"))
    text = summarize(differs, 10)
    assert text.startswith(
        "custom property 'capcity' was dropped by HubSpot in 7 of 10 sampled event(s) "
        "(e.g. event 'e0' of externalAccountId 'acme', sent '0'); HubSpot silently drops"
    )
    assert text.endswith(" | event 'e3' (externalAccountId 'acme'): eventName: sent 'A', HubSpot holds 'B'")
    many = {("acme", f"e{i}"): [Mismatch("eventName", "A", str(i))] for i in range(8)}
    assert summarize(many, 8).endswith("| and 3 more event(s) differ")
