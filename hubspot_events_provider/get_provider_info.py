"""Provider registration, read by Airflow through the ``apache_airflow_provider`` entry point.

Keep this module import-light and exception-free: anything it raises breaks ``import airflow``
for the whole environment. ``tests/test_provider_info.py`` validates the dict against the schemas
shipped with Airflow core.
"""

from __future__ import annotations

from typing import Any

from hubspot_events_provider import __version__

_CONN_FIELDS: dict[str, Any] = {
    "api_version": {
        "label": "API version",
        "description": "Marketing Events API version: 2026-03 (default), 2026-09 or v3.",
        "schema": {
            "type": ["string", "null"],
            "enum": ["2026-03", "2026-09", "v3", None],
            "default": "2026-03",
        },
    },
    "max_requests_per_10s": {
        "label": "Requests per 10 s (app budget)",
        "description": "HubSpot burst budget of the app: 100 (Free/Starter), 190 (Pro/Enterprise), "
        "250 (API pack).",
        "schema": {"type": ["integer", "null"], "minimum": 1, "default": 100},
    },
    "timeout": {
        "label": "Read timeout (s)",
        "description": "Seconds to wait for HubSpot's answer to one request.",
        "schema": {"type": ["number", "null"], "minimum": 1, "default": 60},
    },
    "connect_timeout": {
        "label": "Connect timeout (s)",
        "description": "Seconds to wait for the TCP/TLS connection to HubSpot.",
        "schema": {"type": ["number", "null"], "minimum": 1, "default": 10},
    },
    "max_retries": {
        "label": "Max retries per request",
        "description": "Retries of 429 (secondly), 5xx and connection errors; 400/401/403/404 never retry.",
        "schema": {"type": ["integer", "null"], "minimum": 0, "default": 6},
    },
    "max_retry_time": {
        "label": "Max retry time per request (s)",
        "description": "Upper bound on the time one request may spend, retries and waits included.",
        "schema": {"type": ["number", "null"], "minimum": 1, "default": 300},
    },
    "backoff_base": {
        "label": "First retry backoff (s)",
        "description": "First backoff step of a retry; doubles per attempt with jitter, up to backoff_cap.",
        "schema": {"type": ["number", "null"], "minimum": 0, "default": 0.5},
    },
    "backoff_cap": {
        "label": "Longest retry backoff (s)",
        "description": "Longest single wait between two retries.",
        "schema": {"type": ["number", "null"], "minimum": 0, "default": 30},
    },
    "auth_type": {
        "label": "Auth type",
        "description": "token: the password field holds a private app token or Service Key. "
        "oauth: refresh an access token with client_id, client_secret and refresh_token.",
        "schema": {"type": ["string", "null"], "enum": ["token", "oauth", None], "default": "token"},
    },
    "client_id": {
        "label": "OAuth client ID",
        "description": "Only for auth_type oauth.",
        "schema": {"type": ["string", "null"]},
    },
    "client_secret": {
        "label": "OAuth client secret",
        "description": "Only for auth_type oauth.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "refresh_token": {
        "label": "OAuth refresh token",
        "description": "Only for auth_type oauth.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "oauth_token_path": {
        "label": "OAuth token path",
        "description": "Only for auth_type oauth: /oauth/v3/token (default), /oauth/2026-03/token "
        "or /oauth/v1/token.",
        # No default here: Airflow masks the value of any extra whose name contains "token", so the
        # add form showed "***" and saved it as the path. Empty means the hook's /oauth/v3/token.
        "schema": {"type": ["string", "null"]},
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata for Airflow's ProvidersManager."""
    return {
        "package-name": "airflow-provider-hubspot-events",
        "name": "HubSpot Marketing Events",
        # Airflow lists versions[0] as the installed version (`airflow providers list`).
        "versions": [__version__],
        "description": "Batch-upsert HubSpot Marketing Events from a warehouse, a file or XCom; "
        "threshold checks, a readiness sensor and a local HubSpot sandbox.",
        "integrations": [
            {
                "integration-name": "HubSpot Marketing Events",
                "external-doc-url": "https://developers.hubspot.com/docs/api-reference/marketing-marketing-events-v2026-03/guide",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "HubSpot Marketing Events",
                "python-modules": ["hubspot_events_provider.hooks.hubspot"],
            }
        ],
        "operators": [
            {
                "integration-name": "HubSpot Marketing Events",
                "python-modules": ["hubspot_events_provider.operators.marketing_events"],
            }
        ],
        "sensors": [
            {
                "integration-name": "HubSpot Marketing Events",
                "python-modules": ["hubspot_events_provider.sensors.marketing_events"],
            }
        ],
        "triggers": [
            {
                "integration-name": "HubSpot Marketing Events",
                "python-modules": ["hubspot_events_provider.triggers.marketing_events"],
            }
        ],
        "asset-uris": [
            {
                "schemes": ["hubspot"],
                "handler": "hubspot_events_provider.assets.sanitize_uri",
                "factory": "hubspot_events_provider.assets.create_asset",
                "to_openlineage_converter": "hubspot_events_provider.assets.convert_asset_to_openlineage",
            }
        ],
        "extra-links": [
            "hubspot_events_provider.links.HubSpotMarketingEventsLink",
            "hubspot_events_provider.links.HubSpotRejectedRowsLink",
        ],
        "task-decorators": [
            {
                "name": "hubspot_marketing_events",
                "class-name": (
                    "hubspot_events_provider.decorators.marketing_events.hubspot_marketing_events_task"
                ),
            }
        ],
        "connection-types": [
            {
                "connection-type": "hubspot",
                "hook-class-name": "hubspot_events_provider.hooks.hubspot.HubSpotHook",
                "hook-name": "HubSpot",
                "conn-fields": _CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {
                        "host": "API base URL",
                        "password": "Access token (private app token or Service Key)",
                    },
                    "placeholders": {
                        "host": "https://api.hubapi.com",
                        "password": "pat-na1-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
                        "extra": '{"api_version": "2026-03", "max_requests_per_10s": 190}',
                    },
                },
            }
        ],
    }
