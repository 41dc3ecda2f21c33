"""Helpers shared by test modules: sample events, a client on a sandbox, the sandbox as an Airflow
connection, reading JSON Lines report files. (Fixtures live in ``tests/conftest.py``.)"""

from __future__ import annotations

import enum
import json
import pathlib
import time
from typing import Any

import pytest

from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.sandbox import SandboxServer


def event(i: int, **overrides: Any) -> dict[str, Any]:
    """A valid source row for event ``evt-<i>`` of account ``acme``, with ``overrides`` applied."""
    row: dict[str, Any] = {
        "externalAccountId": "acme",
        "externalEventId": f"evt-{i}",
        "eventName": f"Webinar {i}",
        "eventOrganizer": "Acme Marketing",
        "eventType": "WEBINAR",
        "startDateTime": "2026-12-01T10:00:00Z",
        "endDateTime": "2026-12-01T11:00:00Z",
    }
    row.update(overrides)
    return row


def make_client(sandbox: SandboxServer, **config: Any) -> HubSpotClient:
    """A client on ``sandbox`` with a budget the tests never reach and quick retries."""
    cfg = ClientConfig(
        **{"base_url": sandbox.url, "max_requests_per_10s": 10_000, "backoff_base": 0.01, **config}
    )
    return HubSpotClient(cfg, StaticTokenAuth(sandbox.token))


def connect(
    monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer, conn_id: str = "hubspot_default", **extra: Any
) -> None:
    """Make ``sandbox`` the Airflow connection ``conn_id`` (an ``AIRFLOW_CONN_*`` variable).

    :param extra: the connection's extra fields (``max_requests_per_10s``, ``api_version``...).
    """
    conn: dict[str, Any] = {"conn_type": "hubspot", "host": sandbox.url, "password": sandbox.token}
    if extra:
        conn["extra"] = extra
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def read_jsonl(path: str | pathlib.Path) -> list[dict[str, Any]]:
    """The records of a JSON Lines file."""
    return [json.loads(line) for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines()]


def foreign_strings(value: Any, where: str = "dag") -> list[str]:
    """Places in serialized data holding a ``str`` subclass (the dag-processor's msgpack refuses them)."""
    if isinstance(value, str):
        plain = type(value) is str or isinstance(value, enum.Enum)
        return [] if plain else [f"{where}: {type(value).__name__}"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in foreign_strings(v, f"{where}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in foreign_strings(v, f"{where}[{i}]")]
    return []


def airflow_filesystems() -> dict[str, Any]:
    """Airflow's (cached) scheme -> filesystem registry: airflow.sdk.io.fs (3.1+) or airflow.io (3.0)."""
    try:
        from airflow.sdk.io.fs import _register_filesystems
    except ImportError:  # Airflow 3.0
        from airflow.io import _register_filesystems  # type: ignore[no-redef]
    return _register_filesystems()  # type: ignore[return-value]


def wait_out_read_lag(sandbox: SandboxServer) -> None:
    """Sleep past the sandbox's read lag: for a test of something else that reads right after a write
    (HubSpot makes events readable some time after a write; the sandbox models it)."""
    time.sleep(sandbox.config.read_lag_s + 0.02)
