"""Pytest plugin (entry point ``pytest11``): fixtures that run a local HubSpot sandbox.

``hubspot_sandbox`` is a fresh :class:`SandboxServer` with the default config for one test, but a
short read lag (:data:`TEST_READ_LAG_S`); ``hubspot_sandbox_factory`` builds and starts one per call
with a given :class:`SandboxConfig` (every server it started is stopped after the test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hubspot_events_provider.sandbox.config import SandboxConfig
from hubspot_events_provider.sandbox.server import SandboxServer

SandboxFactory = Callable[..., SandboxServer]

#: ``read_lag_s`` of the fixtures' sandboxes: HubSpot's read lag is minutes
#: (:data:`~hubspot_events_provider.sandbox.config.DEFAULT_READ_LAG_S`), too long for a test, yet a
#: read right after a write must still miss it, as it would in HubSpot.
TEST_READ_LAG_S = 0.05


@pytest.fixture
def hubspot_sandbox() -> Iterator[SandboxServer]:
    """A running sandbox with the default :class:`SandboxConfig` except ``read_lag_s``
    (:data:`TEST_READ_LAG_S`), stopped after the test."""
    with SandboxServer(SandboxConfig(read_lag_s=TEST_READ_LAG_S)) as sandbox:
        yield sandbox


@pytest.fixture
def hubspot_sandbox_factory() -> Iterator[SandboxFactory]:
    """A factory ``factory(config=None, **fields) -> SandboxServer`` of running sandboxes.

    Pass a :class:`SandboxConfig`, or its fields as keyword arguments (``factory(rate_limit=5)``).
    Every sandbox it starts has ``read_lag_s=TEST_READ_LAG_S``, a given config's included, unless the
    keyword fields name ``read_lag_s`` (``factory(read_lag_s=120)`` for HubSpot's minutes).
    """
    started: list[SandboxServer] = []

    def factory(config: SandboxConfig | None = None, **fields: object) -> SandboxServer:
        fields = {"read_lag_s": TEST_READ_LAG_S, **fields}
        config = SandboxConfig(**fields) if config is None else config.replace(**fields)  # type: ignore[arg-type]
        sandbox = SandboxServer(config).start()
        started.append(sandbox)
        return sandbox

    yield factory
    for sandbox in started:
        sandbox.stop()
