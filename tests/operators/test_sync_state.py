"""The upsert operator's sync-state parameters: validation at parse time, object storage, corrupt
and locked states, full refresh, dry runs (``execute`` against the sandbox)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from hubspot_events_provider.core.sync.state import StateLockedError, SyncState
from hubspot_events_provider.operators.marketing_events import (
    DeleteMarketingEventsOperator,
    UpsertMarketingEventsOperator,
)
from hubspot_events_provider.sandbox import SandboxServer
from tests.support import event


def upsert(rows: list[dict[str, Any]], state_path: str, **kwargs: Any) -> dict[str, Any]:
    op = UpsertMarketingEventsOperator(task_id="upsert", events=rows, state_path=state_path, **kwargs)
    return op.execute({})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"on_missing": "delete"}, "need a state_path"),
        ({"full_refresh": True}, "need a state_path"),
        ({"state_path": "s.db", "on_missing": "purge"}, "on_missing must be"),
        ({"state_path": "s.db", "max_delete_fraction": 1.5}, "max_delete_fraction must be"),
        ({"state_path": "s.db", "max_deletes": -1}, "max_deletes must be"),
    ],
)
def test_bad_sync_parameters_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UpsertMarketingEventsOperator(task_id="u", events=[event(1)], **kwargs)


def test_delete_operator_refuses_a_non_id_target_at_parse_time() -> None:
    with pytest.raises(ValueError, match="externalAccountId and externalEventId"):
        DeleteMarketingEventsOperator(task_id="d", events=[], field_map={"name": "eventName"})


def test_state_in_object_storage(sandbox: SandboxServer, memory_storage: Any) -> None:
    rows = [event(i) for i in range(5)]
    first = upsert(rows, "memory://bucket/sync/events.state")
    assert (first["upserted"], first["sync"]["state_path"]) == (5, "memory://bucket/sync/events.state")
    assert memory_storage.ls("/bucket/sync", detail=False) == ["/bucket/sync/events.state"]  # no lock left
    second = upsert(rows, "memory://bucket/sync/events.state")
    assert (second["upserted"], second["unchanged"], second["sync"]["existed"]) == (0, 5, True)


def test_corrupt_state_fails_the_task_unless_full_refresh(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    state = tmp_path / "s.db"
    state.write_bytes(b"not a sqlite file at all" * 100)
    with pytest.raises(AirflowFailException, match=r"corrupt.*full_refresh=True"):
        upsert([event(1)], str(state))
    summary = upsert([event(1), event(2)], str(state), full_refresh=True)
    assert (summary["upserted"], summary["sync"]["rebuilt"]) == (2, True)
    assert upsert([event(1), event(2)], str(state))["unchanged"] == 2


def test_a_state_in_use_is_refused(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    with (
        SyncState(tmp_path / "s.db", owner="dag/run-1/upsert"),
        pytest.raises(StateLockedError, match="run-1"),
    ):
        upsert([event(1)], str(tmp_path / "s.db"))
    assert sandbox.requests() == []


def test_dry_run_lists_what_would_be_cancelled(sandbox: SandboxServer, tmp_path: pathlib.Path) -> None:
    rows = [event(i) for i in range(12)]
    upsert(rows, str(tmp_path / "s.db"))
    before = (tmp_path / "s.db").read_bytes()
    start = len(sandbox.requests())
    summary = upsert(rows[1:], str(tmp_path / "s.db"), on_missing="cancel", dry_run=True)
    assert (summary["would_upsert"], summary["unchanged"]) == (0, 11)
    assert (summary["sync"]["would_act"], summary["sync"]["cancelled"]) == (1, 0)
    assert summary["sync"]["sample_missing"] == [{"externalAccountId": "acme", "externalEventId": "evt-0"}]
    assert sandbox.requests()[start:] == []
    assert (tmp_path / "s.db").read_bytes() == before


def test_the_state_holds_no_token_and_the_summary_is_json(
    sandbox: SandboxServer, tmp_path: pathlib.Path
) -> None:
    summary = upsert([event(1)], str(tmp_path / "s.db"))
    json.dumps(summary)
    assert sandbox.token.encode() not in (tmp_path / "s.db").read_bytes()
    assert summary["sync"]["decision"] == "ignore"
