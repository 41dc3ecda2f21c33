"""Property-based rows (hypothesis) end to end: any mix of types, unicode, huge strings, odd dates,
missing and extra fields goes through ``run_upsert`` against the sandbox. Never a crash, never an
invalid row sent (the sandbox validates every input like HubSpot and would refuse it), every
row accounted for once, every rejection explained."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubspot_events_provider.core.errors import InputError, UnmappedFieldsError
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions
from hubspot_events_provider.core.kinds.events.mapper import HUBSPOT_FIELDS, EventMapper
from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer
from tests.reliability.harness import run_core, valid_row

FIELDS = HUBSPOT_FIELDS

odd_dates = st.sampled_from(
    [
        "2026-02-30T10:00:00Z",
        "2026-12-01",
        "2026-12-01T10:00:00+14:00",
        "2026-12-01T10:00:00-12:00",
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "2026-12-01 10:00",
        "12/01/2026",
        "1764583200000",
        "2026-03-29T02:30:00",  # a DST gap in Europe, naive
        "",
        "T",
        "\uff12\uff10\uff12\uff16-\uff11\uff12-\uff10\uff11",  # full-width digits
    ]
)
huge = st.builds(lambda c, n: c * n, st.characters(), st.integers(min_value=60_000, max_value=70_000))
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    odd_dates,
    huge,
)
value = st.one_of(
    scalar, st.lists(scalar, max_size=3), st.dictionaries(st.text(max_size=5), scalar, max_size=3)
)


@st.composite
def rows(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(scalar, max_size=2)))
    row: dict[str, Any] = valid_row(draw(st.sampled_from(["e1", "e2", "e3", "ünï-☃", "e" * 300])), 0)
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        if draw(st.booleans()):
            row[name] = draw(value)
        else:
            row.pop(name, None)
    if draw(st.integers(0, 9)) == 0:
        row[draw(st.sampled_from(["extra_col", "EventName", "startdatetime", "😀"]))] = draw(scalar)
    return row


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as sb:
        yield sb


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(batch=st.lists(rows(), min_size=1, max_size=12))
def test_any_rows_are_upserted_or_explained_never_sent_invalid(
    sandbox: SandboxServer, batch: list[Any]
) -> None:
    sandbox.reset()
    out = run_core(batch, sandbox, options=UpsertOptions(batch_size=5, max_in_flight=2), mapper=EventMapper())
    if out.error is not None:
        # Only an input error is allowed, raised before anything is sent.
        assert isinstance(out.error, InputError), repr(out.error)
        assert isinstance(out.error, UnmappedFieldsError), repr(out.error)
        assert sandbox.requests() == []
        return
    s = out.report.summary()
    assert s["upserted"] + s["rejected"] + s["failed"] + s["superseded"] == s["total"] == len(batch)
    assert s["failed"] == 0, f"an invalid row reached HubSpot: {out.rejected}"
    positions = [r["position"] for r in out.results] + [r["position"] for r in out.rejected]
    assert sorted(positions) == list(range(1, len(batch) + 1))
    for line in out.rejected:
        assert line["message"], line
        assert line["category"], line
        assert line["stage"] in ("validation", "superseded")
    stored = {(e["externalAccountId"], e["externalEventId"]) for e in sandbox.events()}
    assert {(r["externalAccountId"], r["externalEventId"]) for r in out.results} == stored
    sent = [i for r in sandbox.requests() for i in (r.inputs or [])]
    assert all(r.status == 200 for r in sandbox.requests())
    assert len(sent) == s["upserted"]
