"""Pytest plugin (entry point ``pytest11``): fixtures that run a local HubSpot sandbox.

``hubspot_sandbox`` is a fresh :class:`SandboxServer` with the default config for one test;
``hubspot_sandbox_factory`` builds and starts one per call with a given :class:`SandboxConfig`
(every server it started is stopped after the test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hubspot_events_provider.sandbox.config import SandboxConfig
from hubspot_events_provider.sandbox.server import SandboxServer

SandboxFactory = Callable[..., SandboxServer]


@pytest.fixture
def hubspot_sandbox() -> Iterator[SandboxServer]:
    """A running sandbox with the default :class:`SandboxConfig`, stopped after the test."""
    with SandboxServer(SandboxConfig()) as sandbox:
        yield sandbox


@pytest.fixture
def hubspot_sandbox_factory() -> Iterator[SandboxFactory]:
    """A factory ``factory(config=None, **fields) -> SandboxServer`` of running sandboxes.

    Pass a :class:`SandboxConfig`, or its fields as keyword arguments (``factory(rate_limit=5)``).
    """
    started: list[SandboxServer] = []

    def factory(config: SandboxConfig | None = None, **fields: object) -> SandboxServer:
        if config is None:
            config = SandboxConfig(**fields)  # type: ignore[arg-type]
        elif fields:
            config = config.replace(**fields)
        sandbox = SandboxServer(config).start()
        started.append(sandbox)
        return sandbox

    yield factory
    for sandbox in started:
        sandbox.stop()
