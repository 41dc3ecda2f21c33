"""Test-wide set-up.

Airflow reads its configuration at import time, so the environment is set here, before any test
module imports Airflow: a private AIRFLOW_HOME, a SQLite metadata DB with an absolute path, and
``tests/dags`` as the DAGs folder (``dag.test()`` in Airflow 3.3 needs the DAG in the bundle).
Core tests never import Airflow; only the ``airflow_db`` fixture creates the metadata DB.
"""

from __future__ import annotations

import os
import pathlib
import tempfile

import pytest

from hubspot_events_provider.sandbox import SandboxServer
from tests.support import connect, event, make_client

_HOME = tempfile.mkdtemp(prefix="hubspot-af-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(pathlib.Path(__file__).parent / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__TEST_CONNECTION"] = "Enabled"
os.environ.pop("AIRFLOW_CONN_HUBSPOT_DEFAULT", None)

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC_DIR = REPO_ROOT / "spec" / "hubspot"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh Airflow metadata DB (SQLite), created once per test session."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def sandbox(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """A fresh sandbox (default config), also reachable as the Airflow connection ``hubspot_default``."""
    connect(monkeypatch, hubspot_sandbox)
    return hubspot_sandbox


@pytest.fixture
def attendance_sandbox(hubspot_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """A fresh sandbox holding events ``acme/evt-1`` and ``acme/evt-2`` (participations need them),
    reachable as ``hubspot_default`` with a budget the tests never reach."""
    connect(monkeypatch, hubspot_sandbox, max_requests_per_10s=10_000)
    with make_client(hubspot_sandbox) as client:
        client.upsert_events([event(1), event(2)])
    return hubspot_sandbox
