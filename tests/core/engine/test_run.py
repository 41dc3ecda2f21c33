"""The write pipeline beyond events: the state seam (RowHooks) against the sandbox, and a second
write kind (participation-like: grouped requests, ordered phases, a request HubSpot refuses whole)
against a fake HubSpot that records what arrives and when."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from hubspot_events_provider.core.engine.contract import (
    Refusal,
    Route,
    RowHooks,
    RowMapper,
    Wording,
    WriteKindBase,
)
from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.engine.run import WriteOptions, run_writes
from hubspot_events_provider.core.errors import HubSpotError, HubSpotNotFoundError
from hubspot_events_provider.core.http.client import HubSpotResponse
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
from hubspot_events_provider.core.kinds.events.mapper import EventMapper, RowError
from hubspot_events_provider.core.rows.identity import Key, WriteItem
from hubspot_events_provider.core.rows.sources import rows_from_events
from hubspot_events_provider.sandbox import SandboxServer
from tests.core.engine.fakes import FakeApi
from tests.support import event, make_client


@dataclass
class StateStore:
    """What a change-detection state would do with the hooks: skip some keys, remember outcomes."""

    holds: set[str]
    asked: list[str] = field(default_factory=list)
    confirmed: dict[str, str | None] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    def hooks(self) -> RowHooks:
        return RowHooks(unchanged=self.unchanged, confirmed=self.on_confirmed, refused=self.on_refused)

    def unchanged(self, item: WriteItem) -> bool:
        self.asked.append(item.key[1])
        return item.key[1] in self.holds

    def on_confirmed(self, item: WriteItem, object_id: str | None) -> None:
        self.confirmed[item.key[1]] = object_id

    def on_refused(self, item: WriteItem) -> None:
        self.refused.append(item.key[1])


def _upsert(
    sandbox: SandboxServer | None, rows: list[Any], state: StateStore, **options: Any
) -> UpsertReport:
    report = UpsertReport(dry_run=bool(options.get("dry_run")), results=JsonLinesWriter(io.BytesIO()))
    client = make_client(sandbox) if sandbox is not None else None
    run_upsert(
        rows_from_events(rows),
        EventMapper(),
        client,
        report,
        options=UpsertOptions(batch_size=3, max_in_flight=2, **options),
        hooks=state.hooks(),
    )
    return report


def test_hooks_skip_unchanged_rows_and_learn_what_hubspot_confirmed_or_refused(
    sandbox: SandboxServer,
) -> None:
    sandbox.configure(reject_external_event_ids=("evt-7",))
    state = StateStore(holds={"evt-2", "evt-4"})
    rows = [event(i) for i in range(10)] + [event(4, eventName="again")]
    report = _upsert(sandbox, rows, state)
    summary = report.summary()
    assert (summary["total"], summary["upserted"], summary["failed"]) == (11, 7, 1)
    assert (summary["unchanged"], summary["superseded"]) == (2, 1)
    assert report.invariant_holds()
    stored = {e["externalEventId"]: str(e["objectId"]) for e in sandbox.events()}
    assert set(stored) == {f"evt-{i}" for i in range(10)} - {"evt-2", "evt-4", "evt-7"}
    assert state.confirmed == stored  # exactly what HubSpot holds, with HubSpot's ids
    assert state.refused == ["evt-7"]
    assert sorted(state.asked) == sorted(f"evt-{i}" for i in range(10))  # winners only, once each
    sent = [i["externalEventId"] for r in sandbox.requests() for i in r.inputs or []]
    assert "evt-2" not in sent
    assert "evt-4" not in sent


def test_a_dry_run_counts_unchanged_rows_apart_and_sends_nothing() -> None:
    state = StateStore(holds={"evt-1"})
    report = _upsert(None, [event(i) for i in range(4)], state, dry_run=True)
    summary = report.summary()
    assert (summary["would_upsert"], summary["unchanged"], summary["upserted"]) == (3, 1, 0)
    assert report.invariant_holds()
    assert state.confirmed == {}


# -- a second kind: participations grouped by (event, state), register before attend before cancel --

STATES = ("register", "attend", "cancel")


class MappedParticipation(NamedTuple):
    payload: dict[str, Any] | None
    errors: list[RowError]
    key: Key | None


class ParticipationMapper:
    """Rows ``{event, email, state}``; the key is all three (one participation per state)."""

    def map_row(self, row: Any) -> MappedParticipation:
        state = str(row.get("state", "")).lower()
        if state not in STATES:
            return MappedParticipation(
                None, [RowError("subscriberState", "INVALID_STATE", f"unknown state {state!r}")], None
            )
        key = (row["event"], row["email"], state)
        return MappedParticipation({"email": row["email"], "state": state}, [], key)

    def unmapped_keys(self, keys: Iterable[Any]) -> set[str]:
        return {str(k) for k in keys} - {"event", "email", "state"}

    def unmapped_error(
        self, keys: Iterable[Any], *, source: str | None = None, line: int | None = None
    ) -> Exception:
        return ValueError(f"unmapped {sorted(keys)}")


class ParticipationKind(WriteKindBase):
    key_fields = ("externalEventId", "email", "subscriberState")
    words = Wording(noun="participations", verb="record", done="recorded", rerun="recording is idempotent")

    @property
    def mapper(self) -> RowMapper:
        return ParticipationMapper()

    def route(self, key: Key, payload: Mapping[str, Any]) -> Route:
        return Route(group=(key[0], key[2]), phase=STATES.index(key[2]))

    def send(
        self, client: FakeAttendance, group: Key, payloads: Sequence[Mapping[str, Any]]
    ) -> HubSpotResponse:
        return client.record(group, payloads)

    def key_from_context(self, context: Mapping[str, Any]) -> Key | None:
        return None

    def object_id(self, result: Mapping[str, Any]) -> str | None:
        return None

    def refuse_request(self, error: HubSpotError, group: Key) -> Refusal | None:
        if isinstance(error, HubSpotNotFoundError):
            return Refusal("EVENT_NOT_FOUND", f"HubSpot knows no event {group[0]!r}")
        return None


@dataclass
class FakeAttendance(FakeApi):
    """HubSpot's attendance endpoint: path per (event, state); 404 for an unknown event."""

    known_events: set[str]
    calls: list[tuple[Key, list[str], float, float]] = field(default_factory=list)
    busy: int = 0
    most_busy: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, group: Key, payloads: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
        with self.lock:
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        start = time.monotonic()
        time.sleep(0.03)
        with self.lock:
            self.busy -= 1
            self.calls.append((group, [p["email"] for p in payloads], start, time.monotonic()))
            assert all(p["state"] == group[1] for p in payloads)
        if group[0] not in self.known_events:
            raise HubSpotNotFoundError("HubSpot answered 404", status=404)
        return HubSpotResponse(
            200, {"results": [{} for _ in payloads]}, {}, "POST", f"/attendance/{group[0]}"
        )


def test_a_second_kind_groups_requests_orders_phases_and_fails_only_an_unknown_events_rows() -> None:
    rows = [
        {"event": event_id, "email": f"p{i}@example.com", "state": state}
        for event_id in ("w1", "w2", "w3", "ghost")
        for state in ("cancel", "attend", "REGISTER")
        for i in range(4)
    ] + [
        {"event": "w1", "email": "p0@example.com", "state": "attend"},
        {"event": "w1", "email": "x", "state": "left"},
    ]
    fake = FakeAttendance(known_events={"w1", "w2", "w3"})
    results = io.BytesIO()
    report = UpsertReport(results=JsonLinesWriter(results), key_fields=ParticipationKind.key_fields)
    run_writes(
        rows_from_events(rows),
        ParticipationKind(),
        fake,
        report,
        options=WriteOptions(batch_size=3, max_in_flight=4),
    )
    summary = report.summary()
    assert (summary["total"], summary["upserted"], summary["failed"]) == (50, 36, 12)
    assert (summary["rejected"], summary["superseded"]) == (1, 1)
    assert summary["errors_by_category"] == {"EVENT_NOT_FOUND": 12, "INVALID_STATE": 1}
    assert report.invariant_holds()
    # One request per (event, state) group and batch: 4 events x 3 states x ceil(4 / 3) = 24.
    assert len(fake.calls) == summary["batches"] == 24
    # Every register request ended before any attend request started, and attend before cancel.
    for earlier, later in (("register", "attend"), ("attend", "cancel")):
        ends = max(end for group, _, _, end in fake.calls if group[1] == earlier)
        starts = min(start for group, _, start, _ in fake.calls if group[1] == later)
        assert ends <= starts
    assert fake.most_busy >= 2  # requests of one phase do go in parallel
    recorded = [json.loads(line) for line in results.getvalue().splitlines()]
    assert {(r["externalEventId"], r["subscriberState"]) for r in recorded} == {
        (e, s) for e in ("w1", "w2", "w3") for s in STATES
    }
    sample = summary["sample_errors"][0]
    assert sample["category"] in ("EVENT_NOT_FOUND", "INVALID_STATE")
    ghost = [s for s in summary["sample_errors"] if s["category"] == "EVENT_NOT_FOUND"]
    assert ghost[0]["message"] == "HubSpot knows no event 'ghost'"
    assert ghost[0]["ids"]["externalEventId"] == "ghost"
