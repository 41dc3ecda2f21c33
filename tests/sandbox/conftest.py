"""Helpers for the sandbox tests: a small HubSpot API caller that checks every JSON body it gets
from a HubSpot route against the vendored OpenAPI spec (``tests/contract/openapi.py``)."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from hubspot_events_provider.sandbox import SandboxServer
from tests.contract.openapi import validate_response

PREFIXES = {
    "2026-03": "/marketing/marketing-events/2026-03",
    "2026-09": "/marketing/marketing-events/2026-09",
    "v3": "/marketing/v3/marketing-events",
}


class Api:
    """Calls one sandbox's HubSpot routes and validates every JSON answer against the spec.

    :param sandbox: the running sandbox.
    :param version: spec version whose prefix is used.
    """

    def __init__(self, sandbox: SandboxServer, version: str = "2026-03") -> None:
        self.sandbox = sandbox
        self.version = version
        self.session = requests.Session()

    def call(
        self,
        method: str,
        template: str,
        *,
        token: str | None = None,
        auth: bool = True,
        path_params: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request to ``<prefix><template>`` and validate its JSON body.

        :param token: Bearer token to send instead of the sandbox's own token.
        :param auth: ``False`` sends no Authorization header.
        """
        path = template.format(**{k: urllib.parse.quote(v, safe="") for k, v in (path_params or {}).items()})
        headers = dict(kwargs.pop("headers", {}))
        if auth:
            headers["Authorization"] = f"Bearer {token or self.sandbox.token}"
        url = self.sandbox.url + PREFIXES[self.version] + path
        resp = self.session.request(method, url, headers=headers, timeout=10, **kwargs)
        if resp.content:
            validate_response(self.version, method, template, resp.status_code, resp.json())
        return resp

    def upsert(self, inputs: Any, **kwargs: Any) -> requests.Response:
        """``POST /events/upsert`` with ``{"inputs": inputs}``."""
        return self.call("POST", "/events/upsert", json={"inputs": inputs}, **kwargs)

    def read(self, event_id: str, account: str = "acct", **kwargs: Any) -> requests.Response:
        """``GET /events/{externalEventId}?externalAccountId=``."""
        return self.call(
            "GET",
            "/events/{externalEventId}",
            path_params={"externalEventId": event_id},
            params={"externalAccountId": account},
            **kwargs,
        )


def settle(sandbox: SandboxServer) -> None:
    """Wait out the sandbox's read lag (``read_lag_s``): API reads then see every write made so far."""
    time.sleep(sandbox.config.read_lag_s + 0.02)


def event(event_id: str = "e1", account: str = "acct", **fields: Any) -> dict[str, Any]:
    """A valid upsert input."""
    base: dict[str, Any] = {
        "externalAccountId": account,
        "externalEventId": event_id,
        "eventName": f"Event {event_id}",
        "eventOrganizer": "Acme",
        "startDateTime": "2026-05-01T09:00:00Z",
        "endDateTime": "2026-05-01T10:00:00+02:00",
        "customProperties": [{"name": "region", "value": "emea"}],
    }
    base.update(fields)
    return base


@pytest.fixture
def api(hubspot_sandbox: SandboxServer) -> Iterator[Api]:
    """An :class:`Api` on a fresh default sandbox (2026-03 prefix)."""
    client = Api(hubspot_sandbox)
    yield client
    client.session.close()
