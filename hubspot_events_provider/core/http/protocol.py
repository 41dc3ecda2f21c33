"""What the rest of the core needs from a HubSpot client: the typed seam between the HTTP layer and
the engine, the kinds and the sync run.

:class:`~hubspot_events_provider.core.http.client.HubSpotClient` satisfies it; a test can pass any
object with these members (a recording fake, a client wrapped with extra logging) and mypy checks it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hubspot_events_provider.core.http.answers import HubSpotResponse
from hubspot_events_provider.core.http.config import ClientConfig

if TYPE_CHECKING:  # the client's module loads requests; the seam itself does not need it
    from hubspot_events_provider.core.http.client import HubSpotClient

__all__ = ["HubSpotApi"]


@runtime_checkable
class HubSpotApi(Protocol):
    """One HubSpot app's API, rate-limited and retried by the implementation."""

    @property
    def config(self) -> ClientConfig:
        """The settings the client was built with (base URL, API version, budget)."""
        ...

    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> HubSpotResponse:
        """Send one request; a failure after retries raises a typed ``HubSpotError``."""
        ...

    def expect_requests(self, total: int) -> None:
        """The run's size in requests: a hint for the rate limiter's start (may do nothing)."""
        ...

    def upsert_events(self, inputs: Sequence[Mapping[str, Any]]) -> HubSpotResponse:
        """``POST …/events/upsert`` with the given inputs."""
        ...

    def get_event(self, external_event_id: str, external_account_id: str) -> dict[str, Any]:
        """One event by its external ids (``HubSpotNotFoundError`` on 404)."""
        ...

    def iter_events(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every event of the app, page after page."""
        ...


def _the_client_conforms(client: HubSpotClient) -> HubSpotApi:
    """Never called: mypy proves here that the shipped client satisfies the protocol."""
    return client
