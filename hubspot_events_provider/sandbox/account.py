"""The sandbox's account-info route: ``GET /account-info/v3/details``.

HubSpot answers it with the account's (portal's) id, time zone, currency, UI domain and data
hosting location; the provider reads ``portalId`` for OpenLineage namespaces and UI links. Any valid
token may call it (no scope), and the call counts against the app's rate budget like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubspot_events_provider.sandbox.routes import Reply, Request
    from hubspot_events_provider.sandbox.state import SandboxState

DETAILS_PATH = "/account-info/v3/details"
PATHS = (DETAILS_PATH, "/account-info/2026-03/details")


def details_body(hub_id: int) -> dict[str, Any]:
    """HubSpot's account details answer for the account ``hub_id``."""
    return {
        "portalId": hub_id,
        "accountType": "STANDARD",
        "timeZone": "US/Eastern",
        "companyCurrency": "USD",
        "additionalCurrencies": [],
        "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18000000,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    }


def details(state: SandboxState, req: Request) -> Reply:
    """Answer ``GET`` with the account details; any other method is 405."""
    from hubspot_events_provider.sandbox import responses
    from hubspot_events_provider.sandbox.routes import Reply

    if req.method != "GET":
        return Reply(405, responses.error_body("METHOD_NOT_ALLOWED", f"Method {req.method} is not allowed."))
    return Reply(200, details_body(state.config.hub_id))
