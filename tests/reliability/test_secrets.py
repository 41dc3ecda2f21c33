"""Secrets never leak: a canary token (and an OAuth client secret and refresh token) set on the
connection is searched for in every task log line (caplog at DEBUG and the captured stdout/stderr of
``dag.test()``), XCom value, rendered template field, report file, exception text and sandbox-visible
URL, across passing, faulty, failing, refused and unreachable runs. Plain http to a non-loopback host
is refused before any connection is attempted."""

from __future__ import annotations

import json
import logging
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from hubspot_events_provider.core.errors import HubSpotAuthError, HubSpotError
from hubspot_events_provider.core.http.auth import OAuthAuth, StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.sandbox import Fault, SandboxConfig, SandboxServer
from tests.reliability.conftest import Recorder
from tests.reliability.harness import count_leaks, make_workload, read_jsonl, sandbox_urls

TOKEN = f"pat-na1-CANARY-{uuid.uuid4()}"
CLIENT_SECRET = f"oauth-secret-CANARY-{uuid.uuid4()}"
REFRESH = f"refresh-CANARY-{uuid.uuid4()}"
SECRETS = (TOKEN, CLIENT_SECRET, REFRESH)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connection(url: str, *, oauth: bool, token: str = TOKEN) -> str:
    extra: dict[str, Any] = {
        "max_retries": 2,
        "max_retry_time": 5,
        "rate_window_s": 0.2,
        "connect_timeout": 1,
    }
    if oauth:
        extra.update(
            auth_type="oauth", client_id="client-id", client_secret=CLIENT_SECRET, refresh_token=REFRESH
        )
    return json.dumps({"conn_type": "hubspot", "host": url, "password": token, "extra": extra})


#: Airflow releases whose in-process test supervisor (``airflow dags test`` / ``dag.test()``) logs
#: ``Sending request msg=MaskSecret(value=...)`` at DEBUG, with the value, for Airflow's own Connection
#: password too (measured with ``airflow dags test`` at DEBUG; see SECURITY.md). Deployed tasks (a
#: supervisor process per task) log "(body omitted)" instead. Any other release must not print it.
AIRFLOW_RELEASES_LOGGING_MASK_REQUESTS = frozenset({"3.0.6", "3.1.8", "3.3.0", "3.3.2"})


def without_airflow_mask_requests(text: str) -> str:
    """Drop Airflow's own debug line that carries a ``mask_secret`` request to the supervisor.

    Only on the releases of :data:`AIRFLOW_RELEASES_LOGGING_MASK_REQUESTS`: the line is Airflow's
    masking request itself (upstream), not provider output; every other line is scanned, and on any
    other release that line counts as a leak too.
    """
    from airflow import __version__ as airflow_version

    if airflow_version not in AIRFLOW_RELEASES_LOGGING_MASK_REQUESTS:
        return text
    return "\n".join(line for line in text.splitlines() if "MaskSecret(value=" not in line)


def run_dag(conf: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    """``dag.test()`` the reliability DAG; return the upsert state, its XComs and rendered fields."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from tests.dags.reliability_dags import reliability_upsert

    dr = reliability_upsert.test(run_conf=conf)
    state = {ti.task_id: ti.state for ti in dr.get_task_instances()}["upsert"]
    with create_session() as session:
        xcoms = {
            row.key: XComModel.deserialize_value(row)
            for row in session.scalars(
                select(XComModel).where(XComModel.dag_id == dr.dag_id, XComModel.run_id == dr.run_id)
            )
        }
        rendered = [
            r.rendered_fields
            for r in session.scalars(select(RTIF).where(RTIF.dag_id == dr.dag_id, RTIF.run_id == dr.run_id))
        ]
    return str(state), xcoms, json.dumps(rendered, default=str)


# (scenario, oauth, expected task state)
SCENARIOS = [
    ("faulty", False, "success"),
    ("faulty", True, "success"),
    ("exhausted", True, "failed"),
    ("refused", False, "failed"),
    ("refused", True, "failed"),
    ("unreachable", False, "failed"),
]


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize(("scenario", "oauth", "expected"), SCENARIOS)
def test_no_secret_in_any_output_of_a_dag_run(
    scenario: str,
    oauth: bool,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    record_run: Recorder,
) -> None:
    w = make_workload(120, seed=5)
    good_token = TOKEN if scenario != "refused" else f"other-{uuid.uuid4()}"
    cfg = SandboxConfig(
        tokens=(good_token,),
        oauth_clients={"client-id": CLIENT_SECRET if scenario != "refused" else "another-secret"},
        refresh_tokens={REFRESH: "client-id"},
        reject_external_event_ids=w.reject_ids,
        seed=3,
    )
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="hubspot_events_provider")
    with SandboxServer(cfg) as sb:
        if scenario == "faulty":
            sb.add_fault(Fault(kind="5xx_after", probability=0.15, route="upsert", status=502))
            sb.add_fault(Fault(kind="drop_before", probability=0.05, route="upsert"))
        if scenario == "exhausted":
            sb.add_fault(Fault(kind="5xx_before", probability=1.0, route="upsert"))
        url = f"http://127.0.0.1:{closed_port()}" if scenario == "unreachable" else sb.url
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", connection(url, oauth=oauth))
        state, xcoms, rendered = run_dag({"events": w.rows, "out": str(tmp_path)})
        if state == "failed" and expected == "success" and not sb.requests():
            pytest.skip("dag.test() cannot start any task in this Airflow install (Execution API refused it)")
        assert state == expected
        out = capfd.readouterr()
        out = out._replace(
            out=without_airflow_mask_requests(out.out), err=without_airflow_mask_requests(out.err)
        )
        texts = [
            without_airflow_mask_requests(caplog.text),
            *(repr(r.exc_info) + str(r.args) for r in caplog.records if r.exc_info or r.args),
            out.out,
            out.err,
            json.dumps(xcoms, default=str),
            rendered,
            *(p.read_text(encoding="utf-8") for p in tmp_path.glob("*.jsonl")),
            *sandbox_urls(sb),
        ]
        # The capture works: the task's own log lines are in it.
        assert any("Upserting marketing events from events" in t for t in texts)
        leaks = count_leaks(SECRETS, texts)
        assert leaks == 0, [
            line[:300] for t in texts for line in t.splitlines() if any(s in line for s in SECRETS)
        ]
        if expected == "success":
            # reading overlaps sending: a row sent before its later duplicate counts upserted too
            assert len(w.upserted) <= xcoms["return_value"]["upserted"] <= len(w.upserted | w.superseded)
            assert {e["externalEventId"] for e in sb.events()} == set(w.latest)
        else:
            # A failed task pushes no summary and claims no upsert that HubSpot lacks.
            assert "return_value" not in xcoms
            stored = {e["externalEventId"] for e in sb.events()}
            assert {r["externalEventId"] for r in read_jsonl(tmp_path / "results.jsonl")} <= stored
            if scenario in ("refused", "unreachable", "exhausted"):
                assert stored == set()
        record_run(
            {
                "events": len(w.rows),
                "faults": {f"dag:{scenario}": sum(1 for r in sb.requests() if r.fault)},
                "lost": 0,
                "duplicates": sb.stats()["creates"] - len(sb.events()),
                "leaks": leaks,
            },
            outcome=state,
        )


@pytest.mark.parametrize("oauth", [False, True])
def test_no_secret_in_core_errors_reprs_or_logs(oauth: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = SandboxConfig(tokens=("not-the-canary",), oauth_clients={"client-id": "not-the-canary"})
    with SandboxServer(cfg) as sb:
        auth = OAuthAuth("client-id", CLIENT_SECRET, REFRESH) if oauth else StaticTokenAuth(TOKEN)
        client = HubSpotClient(ClientConfig(base_url=sb.url, backoff_base=0.01, max_retries=1), auth)
        with client, pytest.raises(HubSpotAuthError) as info:
            client.upsert_events([{"externalAccountId": "a", "externalEventId": "e"}])
        err: HubSpotError = info.value
        texts = [str(err), repr(err), repr(auth), repr(client), repr(client.config), caplog.text]
        texts += [json.dumps(getattr(err, "body", None) or {}), *sandbox_urls(sb)]
        assert count_leaks(SECRETS, texts) == 0


@pytest.mark.parametrize(
    "url",
    ["http://api.hubapi.com", "http://hubspot.invalid:8080", "http://10.0.0.5", "http://[fe80::1]"],
)
def test_plain_http_to_a_non_loopback_host_is_refused_before_any_connection(url: str) -> None:
    with pytest.raises(ValueError, match="Plain http is refused") as info:
        ClientConfig(base_url=url)
    assert TOKEN not in str(info.value)
