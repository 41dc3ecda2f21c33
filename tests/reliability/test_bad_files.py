"""Fuzzed input files: truncated JSON, broken CSV quoting, binary junk, empty files, a wrong encoding,
an object where a list was expected. Each fails with an error naming the file (and the line where
there is one) before anything is sent."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from hubspot_events_provider.core.engine.report import UpsertReport
from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import rows_from_file
from hubspot_events_provider.sandbox import SandboxServer
from tests.reliability.harness import fast_config, valid_row

GOOD = [valid_row(f"e{i}", i) for i in range(50)]
GOOD_JSONL = "".join(json.dumps(r) + "\n" for r in GOOD).encode()
CSV_HEADER = "externalAccountId,externalEventId,eventName,eventOrganizer,startDateTime\n"


def _csv_rows(n: int) -> str:
    return "".join(f"acme,c{i},Event {i},Acme,2026-12-01T10:00:00Z\n" for i in range(n))


# (file name, content, line the error must name or None when the file has no line at fault)
CASES: list[tuple[str, bytes, int | None]] = [
    ("truncated.json", json.dumps(GOOD, indent=0).encode()[:-40], None),
    ("truncated.jsonl", GOOD_JSONL + b'{"externalEventId": "x", "eventNa', 51),
    (
        "bad_line.jsonl",
        b"".join(GOOD_JSONL.splitlines(keepends=True)[:10]) + b"{not json}\n" + GOOD_JSONL,
        11,
    ),
    (
        "quoting.csv",
        (CSV_HEADER + _csv_rows(10) + 'acme,"c99,unterminated,Acme,2026\n' + _csv_rows(3)).encode(),
        None,
    ),
    ("binary.jsonl", bytes(range(256)) * 8, None),
    ("junk.json", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(128, 256)), 1),
    (
        "latin1.csv",
        (CSV_HEADER + _csv_rows(5)).encode() + "acme,x,Café,Acme,2026-12-01\n".encode("latin-1"),
        7,
    ),
    ("utf16.jsonl", GOOD_JSONL.decode().encode("utf-16-le"), 1),  # no BOM (one is detected and read)
    ("empty.json", b"", None),
    ("blank.jsonl", b"\n\n   \n", None),
    ("object.json", json.dumps({"events": GOOD}, indent=2).encode(), None),
    ("object_one_line.json", json.dumps({"events": GOOD}).encode(), 1),
    ("truncated.json.gz", gzip.compress(GOOD_JSONL)[:-30], None),
]


@pytest.mark.parametrize(("name", "content", "line"), CASES, ids=[c[0] for c in CASES])
def test_a_broken_file_names_itself_and_sends_nothing(
    hubspot_sandbox: SandboxServer, tmp_path: Path, name: str, content: bytes, line: int | None
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    report = UpsertReport()
    client = HubSpotClient(fast_config(hubspot_sandbox.url), StaticTokenAuth(hubspot_sandbox.token))
    with client, pytest.raises(InputError) as info:
        run_upsert(
            rows_from_file(lambda: path.open("rb"), name=str(path)),
            EventMapper(),
            client,
            report,
            options=UpsertOptions(source=str(path)),
        )
    text = str(info.value)
    assert str(path) in text, text
    assert len(text) < 2000, "the message must stay readable"
    if line is not None:
        assert info.value.line == line, text
        assert f"line {line}" in text
    if "line" in text:
        assert info.value.line is not None
    assert hubspot_sandbox.requests() == [], "nothing may be sent when the input is bad"
    assert report.upserted == 0
