"""A base for fake HubSpot clients: every member of the client protocol, so the engine can use a
fake as it uses the real client; a member the test does not play fails the test loudly."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hubspot_events_provider.core.http.client import HubSpotResponse
from hubspot_events_provider.core.http.config import ClientConfig


class FakeApi:
    """Satisfies :class:`~hubspot_events_provider.core.http.protocol.HubSpotApi`; a subclass plays
    the endpoints its test needs."""

    config = ClientConfig()

    def expect_requests(self, total: int) -> None:
        """A fake has no rate limiter to tell the run's size: the hint does nothing (as the
        protocol allows)."""

    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> HubSpotResponse:
        raise AssertionError(f"this fake does not answer {method} {path}")

    def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
        raise AssertionError("this fake does not answer upserts")

    def get_event(self, external_event_id: str, external_account_id: str) -> dict[str, Any]:
        raise AssertionError("this fake does not answer event reads")

    def iter_events(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        raise AssertionError("this fake does not list events")
