"""UpsertMarketingEventsOperator inputs against the sandbox: every input kind and file format,
mapping and normalisation, unmapped keys, duplicates, bad input, parameters and refused secrets.

``execute()`` is called directly (no metadata DB); the HubSpot connection is an
``AIRFLOW_CONN_HUBSPOT_DEFAULT`` env var pointing at a fresh sandbox. Sending (partial failures,
splitting, dry runs, retries, the summary) is in ``test_upsert_sending.py``; templating in
``test_upsert_templating.py``; ``dag.test()`` runs in ``test_upsert_dag.py``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import pathlib
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import BaseOperator

from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.operators.upsert import UpsertMarketingEventsOperator
from hubspot_events_provider.sandbox import SandboxServer
from tests.support import read_jsonl


def event(eid: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "externalAccountId": "acme",
        "externalEventId": eid,
        "eventName": f"Webinar {eid}",
        "eventOrganizer": "Acme",
        "startDateTime": "2026-12-01T10:00:00Z",
    }
    row.update(overrides)
    return row


EVENTS = [event("e1"), event("e2"), event("e3")]


def run(tmp_path: pathlib.Path, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("rejected_path", str(tmp_path / "rejected.jsonl"))
    op = UpsertMarketingEventsOperator(task_id="upsert", **kwargs)
    summary: dict[str, Any] = op.execute({})
    return summary


def stored_ids(sandbox: SandboxServer) -> list[str]:
    return sorted(e["externalEventId"] for e in sandbox.events())


class LazySequence(Sequence[Any]):
    """Stands in for Airflow's lazy XCom sequence (a Sequence that is not a list)."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]


# --- events ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "events",
    [
        EVENTS,
        tuple(EVENTS),
        LazySequence(EVENTS),
        json.dumps(EVENTS),  # a JSON array string (a rendered template / XCom string)
        "\n".join(json.dumps(e) for e in EVENTS) + "\n",  # JSON Lines text (a rendered .jsonl file)
        repr(EVENTS),  # ti.xcom_pull rendered without native objects: the Python repr
        json.dumps(EVENTS).encode(),
    ],
    ids=["list", "tuple", "lazy-sequence", "json-array", "json-lines", "python-repr", "bytes"],
)
def test_every_events_kind(sandbox: SandboxServer, tmp_path: pathlib.Path, events: Any) -> None:
    summary = run(tmp_path, events=events)
    assert (summary["total"], summary["upserted"], summary["rejected"]) == (3, 3, 0)
    assert stored_ids(sandbox) == ["e1", "e2", "e3"]


# --- events_file -----------------------------------------------------------------------------


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


_WRITERS: dict[str, Callable[[list[dict[str, Any]]], bytes]] = {
    "json": lambda rows: json.dumps(rows, indent=2).encode(),
    "jsonl": lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode(),
    "ndjson": lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode(),
    "csv": _csv,
}


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("fmt", ["json", "jsonl", "ndjson", "csv"])
def test_every_file_format(
    sandbox: SandboxServer, tmp_path: pathlib.Path, fmt: str, compressed: bool
) -> None:
    data = _WRITERS[fmt](EVENTS)
    path = tmp_path / (f"events.{fmt}.gz" if compressed else f"events.{fmt}")
    path.write_bytes(gzip.compress(data) if compressed else data)
    summary = run(tmp_path, events_file=str(path))
    assert (summary["total"], summary["upserted"]) == (3, 3)
    assert stored_ids(sandbox) == ["e1", "e2", "e3"]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("export.txt", {"file_format": "jsonl"}),  # format from the parameter, not the extension
        ("export.data.gz", {"file_format": "JSONL"}),
        ("events.jsonl", {"uri": True}),  # file:// URI through ObjectStoragePath's scheme
    ],
)
def test_file_format_parameter_and_uri(
    sandbox: SandboxServer, tmp_path: pathlib.Path, name: str, kwargs: dict[str, Any]
) -> None:
    data = _WRITERS["jsonl"](EVENTS)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    location = path.as_uri() if kwargs.pop("uri", False) else str(path)
    summary = run(tmp_path, events_file=location, **kwargs)
    assert summary["upserted"] == 3


def test_relative_events_file_resolves_beside_the_dag(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    from airflow.sdk import DAG

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.jsonl").write_bytes(_WRITERS["jsonl"](EVENTS))
    with DAG("relative_paths", schedule=None) as dag:
        op = UpsertMarketingEventsOperator(
            task_id="upsert", events_file="data/in.jsonl", rejected_path="data/in.rejected.jsonl"
        )
    dag.fileloc = str(tmp_path / "dag.py")
    summary = op.execute({})
    assert summary["upserted"] == 3
    # Report paths follow the same rule as events_file: next to the input, the path in the summary.
    assert summary["rejected_path"] == str(tmp_path / "data" / "in.rejected.jsonl")
    assert (tmp_path / "data" / "in.rejected.jsonl").read_text() == ""


# --- mapping, normalisation, unmapped keys, duplicates ---------------------------------------


@pytest.mark.parametrize(
    ("row", "kwargs", "expected"),
    [
        (
            {"id": "m1", "title": " Launch ", "org": "Acme", "acct": "a1"},
            {
                "field_map": {
                    "id": "externalEventId",
                    "title": "eventName",
                    "org": "eventOrganizer",
                    "acct": "externalAccountId",
                }
            },
            {"eventName": "Launch", "eventOrganizer": "Acme", "externalAccountId": "a1"},
        ),
        (
            event("m2", startDateTime="2026-07-01 09:30"),
            {"timezone": "America/New_York"},
            {"startDateTime": "2026-07-01T13:30:00Z"},
        ),
        (
            event("m3", startDateTime=1798794000000),  # epoch milliseconds
            {},
            {"startDateTime": "2027-01-01T09:00:00Z"},
        ),
        (
            event("m4", eventCancelled="yes", eventCompleted=0),
            {},
            {"eventCancelled": True, "eventCompleted": False},
        ),
        (
            {**event("m5"), "region": "EMEA", "seats": 250},
            {"custom_properties": {"region": "region", "seats": "capacity"}},
            {"customProperties": [{"name": "region", "value": "EMEA"}, {"name": "capacity", "value": "250"}]},
        ),
        (
            {"externalEventId": "m6", "eventName": "x"},
            {"defaults": {"externalAccountId": "acme", "eventOrganizer": "Default Org"}},
            {"externalAccountId": "acme", "eventOrganizer": "Default Org"},
        ),
        (
            {**event("m7"), "internal_note": "skip me"},
            {"ignore_fields": ["internal_note"]},
            {"eventName": "Webinar m7"},
        ),
        (
            {**event("m8"), "whatever": 1, "else": 2},
            {"ignore_unmapped": True},
            {"eventName": "Webinar m8"},
        ),
    ],
    ids=[
        "field_map",
        "timezone",
        "epoch-ms",
        "booleans",
        "custom_properties",
        "defaults",
        "ignore_fields",
        "ignore_unmapped",
    ],
)
def test_mapping_and_normalisation(
    sandbox: SandboxServer,
    tmp_path: pathlib.Path,
    row: dict[str, Any],
    kwargs: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    summary = run(tmp_path, events=[row], **kwargs)
    assert summary["upserted"] == 1, read_jsonl(summary["rejected_path"])
    [request] = [r for r in sandbox.requests() if r.path.endswith("/events/upsert")]
    assert request.inputs is not None
    [sent] = request.inputs
    assert {key: sent.get(key) for key in expected} == expected
    assert not set(sent) & {"internal_note", "whatever", "else", "id", "title", "region", "seats"}


def test_unmapped_keys_refused_before_sending(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    rows = [event("u1"), {**event("u2"), "eventNmae": "typo"}]
    with pytest.raises(InputError, match="eventNmae") as info:
        run(tmp_path, events=rows)
    assert "eventName" in str(info.value)  # did-you-mean
    assert sandbox.requests() == []


def test_duplicates_last_row_wins(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    rows = [event("d1", eventName="first"), event("d2"), event("d1", eventName="last")]
    summary = run(tmp_path, events=rows)
    assert (summary["total"], summary["upserted"], summary["superseded"], summary["rejected"]) == (3, 2, 1, 0)
    stored = sandbox.get_event("acme", "d1")
    assert stored is not None
    assert stored["eventName"] == "last"
    [line] = read_jsonl(summary["rejected_path"])
    assert (line["position"], line["stage"]) == (1, "superseded")


# --- bad input: a clear error naming the source and the line, nothing sent --------------------


@pytest.mark.parametrize(
    ("content", "name", "match"),
    [
        (b'{"externalEventId": "a"}\n{"externalEventId": \n', "bad.jsonl", r"bad\.jsonl, line 2"),
        (b'[{"externalEventId": "a"},\n {oops}]', "bad.json", r"bad\.json, line 2"),
        (b"", "empty.jsonl", r"empty\.jsonl.*(empty|no rows)"),
        (b"externalEventId,,eventName\nx,y,z\n", "header.csv", r"header\.csv, line 1: .*header"),
        (gzip.compress(b'{"a": 1}\n' * 50)[:30], "broken.jsonl.gz", r"broken\.jsonl\.gz.*gzip"),
        (b"a,b\n1,2\n", "events.parquet", r"events\.parquet.*format"),
    ],
)
def test_bad_files(
    sandbox: SandboxServer, tmp_path: pathlib.Path, content: bytes, name: str, match: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=match):
        run(tmp_path, events_file=str(path))
    assert sandbox.requests() == []


def test_unreadable_file_names_the_path(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(InputError, match=r"nope\.jsonl.*cannot open"):
        run(tmp_path, events_file=str(missing))
    assert sandbox.requests() == []


@pytest.mark.parametrize(
    ("events", "match"),
    [
        ({"externalEventId": "a"}, r"^events: is a single object"),
        (42, r"^events: is a int"),
        ('{"externalEventId": "a"', r"^events, line 1"),
        ("[]", r"^events.*(empty|no rows)"),
        ([], r"^events.*(empty|no rows)"),
    ],
)
def test_bad_events(sandbox: SandboxServer, tmp_path: pathlib.Path, events: Any, match: str) -> None:
    with pytest.raises(InputError, match=match):
        run(tmp_path, events=events)
    assert sandbox.requests() == []


def test_empty_input_allowed_on_request(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    summary = run(tmp_path, events=[], allow_empty=True)
    assert (summary["total"], summary["upserted"], summary["requests"]) == (0, 0, 0)


# --- parameters and secrets --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one input.*got none"),
        ({"events": [], "events_file": "x.jsonl"}, "exactly one input.*events, events_file"),
        ({"events": [], "batch_size": 101}, "batch_size"),
        ({"events": [], "batch_size": 0}, "batch_size"),
        ({"events": [], "max_in_flight": 0}, "max_in_flight"),
        ({"events_file": "x", "file_format": "xml"}, "file_format"),
        ({"sql": "select 1"}, "sql_conn_id"),
        ({"events": [], "field_map": {"a": "eventNme"}}, "eventName"),
        ({"events": [], "timezone": "Mars/Base"}, "time zone"),
    ],
)
def test_bad_parameters_fail_at_parse(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        UpsertMarketingEventsOperator(task_id="upsert", **kwargs)


@pytest.mark.parametrize(
    "name",
    ["token", "access_token", "hubspot_token", "api_key", "password", "client_secret", "refresh_token"],
)
def test_secret_arguments_are_refused(name: str) -> None:
    secret = "pat-na1-very-secret-value"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=f"'{name}' is refused") as info:
            UpsertMarketingEventsOperator(task_id="upsert", events=[], **{name: secret})
    assert secret not in str(info.value)
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == [str(info.value)]
    assert all(secret not in str(w.message) for w in caught)


def test_dry_run_parameter_keeps_the_base_method() -> None:
    op = UpsertMarketingEventsOperator(task_id="upsert", events=[], dry_run=True)
    assert op.send_nothing is True
    if hasattr(BaseOperator, "dry_run"):  # Airflow 3.1+: render templates only; still intact
        assert callable(op.dry_run)
