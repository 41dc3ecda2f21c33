"""A local HubSpot-compatible Marketing Events API (stdlib only) for tests, demos and benchmarks.

Usage::

    with SandboxServer(SandboxConfig(rate_limit=100)) as sb:
        requests.post(f"{sb.url}/marketing/marketing-events/2026-03/events/upsert", ...)

See ``docs/sandbox-reference.md`` for every knob, route and fault.
"""

from __future__ import annotations

from hubspot_events_provider.sandbox.config import Fault, RequestRecord, SandboxConfig
from hubspot_events_provider.sandbox.server import SandboxServer

__all__ = ["Fault", "RequestRecord", "SandboxConfig", "SandboxServer"]
