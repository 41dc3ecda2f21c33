"""``budget_sharers`` through a real ``dag.test()`` against the sandbox: a mapped upsert hands the
map's length to each instance's limiter (capped by ``max_active_tis_per_dagrun``), an explicit
``hook_params`` value wins, and an unmapped task leaves it unknown. The figures are read from the
task logs, which print what each client's limiter holds (``limiter.state.sharers``)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from hubspot_events_provider.sandbox import SandboxServer

DETECTED = re.compile(
    r"Sharing the app's rate budget with (\d+) mapped tasks \(budget_sharers=(\d+); set it in hook_params"
)
EXPLICIT = re.compile(r"Sharing the app's rate budget with (\d+) tasks \(budget_sharers=(\d+), set on the")


@pytest.mark.usefixtures("airflow_db")
def test_mapped_upserts_share_the_budget_by_the_map_length(
    sandbox: SandboxServer, capfd: pytest.CaptureFixture[str]
) -> None:
    from tests.dags.budget_sharers_dags import PARTITIONS, dag

    dag_run = dag.test()
    logged = "".join(capfd.readouterr())
    states = Counter((ti.task_id, str(ti.state)) for ti in dag_run.get_task_instances())
    if states[("unmapped", "failed")] and states[("detected", "failed")] == PARTITIONS:
        pytest.skip("dag.test() cannot start any task in this Airflow install (Execution API refused it)")
    assert states == {
        ("detected", "success"): PARTITIONS,
        ("capped", "success"): PARTITIONS,
        ("explicit", "success"): PARTITIONS,
        ("unmapped", "success"): 1,
    }
    # Each of the 10 tasks logs one summary; Airflow 3.0 prints every task log line twice.
    copies, rest = divmod(logged.count("HubSpot upsert summary:"), 10)
    assert (copies >= 1, rest) == (True, 0)
    # Every task's limiter, as it logs it: 3 (the map) x 3, 2 (the cap) x 3; 5 (hook_params) x 3.
    detected = Counter(m.groups() for m in DETECTED.finditer(logged))
    assert detected == {("3", "3"): 3 * copies, ("2", "2"): 3 * copies}
    assert Counter(m.groups() for m in EXPLICIT.finditer(logged)) == {("5", "5"): 3 * copies}
    # The unmapped task logged no share at all: the only lines are the nine mapped instances'.
    # (Counted as formatted lines: Airflow 3.0 may print a second copy with the raw %-template.)
    shares = re.findall(r"Sharing the app's rate budget with \d+ ", logged)
    assert len(shares) == 9 * copies
    accounts = Counter(e["externalAccountId"] for e in sandbox.events())
    assert accounts == {"detected": 6, "capped": 6, "explicit": 6, "unmapped": 2}


def test_a_mapped_task_that_cannot_count_still_runs(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """A mapped instance run outside a supervisor (as with an API server that cannot count): the
    count fails (a debug line, below Airflow's default log level) and the task upserts with
    budget_sharers unset: no share is logged although the instance is mapped."""
    import uuid

    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    from hubspot_events_provider.operators.marketing_events import UpsertMarketingEventsOperator

    events = [{"externalEventId": "alone-1", "eventName": "Alone", "eventOrganizer": "Acme"}]
    op = UpsertMarketingEventsOperator(
        task_id="lonely", events=events, defaults={"externalAccountId": "lonely"}
    )
    ti = RuntimeTaskInstance.model_construct(
        id=uuid.uuid4(),
        task_id="lonely",
        dag_id="nowhere",
        run_id="manual__1",
        try_number=1,
        map_index=1,
        task=op,
    )
    caplog.set_level("DEBUG")
    summary = op.execute({"ti": ti})
    logged = caplog.text + "".join(capfd.readouterr())
    assert summary["upserted"] == 1
    assert ti.map_index == 1
    assert "Sharing the app's rate budget" not in logged
    assert [e["externalEventId"] for e in sandbox.events()] == ["alone-1"]
