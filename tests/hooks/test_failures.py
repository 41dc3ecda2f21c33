"""Failures no retry can heal fail the task at once: ``dag.test()`` with ``retries=2`` against the
sandbox, and the translation helper on its own (every error class of the tree)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from hubspot_events_provider.core.errors import (
    HubSpotAuthError,
    HubSpotDailyLimitError,
    HubSpotMissingScopesError,
    HubSpotNotFoundError,
    HubSpotRateLimitError,
    HubSpotServerError,
    HubSpotTransportError,
    HubSpotValidationError,
)
from hubspot_events_provider.hooks.failures import fail_task_on_permanent_errors
from hubspot_events_provider.hooks.hubspot import HubSpotConnectionError
from hubspot_events_provider.sandbox import SandboxServer


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (HubSpotAuthError("HubSpot refused the credentials: bad", status=401), True),
        (HubSpotMissingScopesError("the app lacks a required scope", status=403), True),
        (HubSpotDailyLimitError("the daily limit is spent", status=429), True),
        (HubSpotValidationError("HubSpot refused the request", status=400), True),
        (HubSpotNotFoundError("not found", status=404), True),
        (HubSpotConnectionError("hubspot_default", "auth_type must be 'token' or 'oauth'"), True),
        (HubSpotRateLimitError("rate limited", status=429), False),
        (HubSpotServerError("transient", status=503), False),
        (HubSpotTransportError("the connection failed"), False),
        (ValueError("anything else"), False),
    ],
)
def test_permanent_errors_become_fail_exceptions(error: Exception, permanent: bool) -> None:
    with pytest.raises(Exception) as info, fail_task_on_permanent_errors():
        raise error
    if permanent:
        assert type(info.value) is AirflowFailException
        assert str(info.value) == str(error)  # the message the error has on its own
        assert info.value.__cause__ is error
    else:
        assert info.value is error


def run(conf: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Run ``permanent_failures``; return ``{task_id: (state, try_number)}``."""
    from tests.dags import permanent_failure_dags

    dr = permanent_failure_dags.permanent_failures.test(run_conf=conf)
    return {ti.task_id: (str(ti.state), ti.try_number) for ti in dr.get_task_instances()}


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("fault", ["wrong_token", "missing_scopes"])
def test_auth_failures_fail_the_task_without_retries(
    hubspot_sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    fault: str,
) -> None:
    token = hubspot_sandbox.token
    if fault == "wrong_token":
        token = "pat-na1-wrong"
    else:
        hubspot_sandbox.configure(missing_scopes=True)
    conn = {"conn_type": "hubspot", "host": hubspot_sandbox.url, "password": token}
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(conn))
    states = run({"out": str(tmp_path)})
    # retries=2: a retried failure would end at try 3.
    assert states == {"upsert": ("failed", 1), "wait": ("failed", 1)}
    status, category = (401, "INVALID_AUTHENTICATION") if fault == "wrong_token" else (403, "MISSING_SCOPES")
    requests = [r for r in hubspot_sandbox.requests() if r.status == status]
    assert len(requests) == 2  # one per task: no client retries either
    output = "".join(capfd.readouterr())
    assert f"failed (HTTP {status}, {category})" in output  # the task log keeps the message
