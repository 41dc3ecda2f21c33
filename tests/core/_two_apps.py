"""Fixtures of the core tests that need a second HubSpot app (deletes, lifecycle, sync state).

A module imports them (``from tests.core._two_apps import OTHER_APP, OTHER_TOKEN, client, sandbox``):
``sandbox`` knows a second app's token, ``client`` is this app's client on it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer
from hubspot_events_provider.sandbox.pytest_plugin import SandboxFactory
from tests.core.http.test_client import fast_config

__all__ = ["OTHER_APP", "OTHER_TOKEN", "client", "sandbox"]

OTHER_APP = 7654321
OTHER_TOKEN = "other-app-token"


@pytest.fixture
def sandbox(hubspot_sandbox_factory: SandboxFactory) -> SandboxServer:
    """A fresh sandbox that also knows ``OTHER_TOKEN`` (the app ``OTHER_APP``)."""
    return hubspot_sandbox_factory(SandboxConfig(app_tokens={OTHER_TOKEN: OTHER_APP}))


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[HubSpotClient]:
    """This app's client on ``sandbox``."""
    with HubSpotClient(fast_config(sandbox), StaticTokenAuth(sandbox.token)) as c:
        yield c
