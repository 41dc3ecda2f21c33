"""Provider registration, read by Airflow through the ``apache_airflow_provider`` entry point.

Keep this module import-light and exception-free: anything it raises breaks ``import airflow``
for the whole environment. ``tests/test_provider_info.py`` validates the dict against the schemas
shipped with Airflow core.
"""

from __future__ import annotations

from typing import Any

from hubspot_events_provider import __version__
from hubspot_events_provider.core.http.config import CONNECTION_KNOBS

#: Connection extras of the credentials (the client's knobs come from ``CONNECTION_KNOBS``). No
#: non-secret field may have a name Airflow treats as sensitive (``token``, ``secret``...): the UI
#: would mask its value, default included, and save ``***`` (``tests/hooks`` checks every name).
_AUTH_FIELDS: dict[str, Any] = {
    "auth_type": {
        "label": "Auth type",
        "description": "token: the Access token field holds a private app token or Service Key. "
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
    # Formerly ``oauth_token_path``, still read as an alias: Airflow masked it as a secret.
    "oauth_endpoint": {
        "label": "OAuth endpoint path",
        "description": "Only for auth_type oauth: /oauth/v3/token (default), /oauth/2026-03/token "
        "or /oauth/v1/token.",
        "schema": {"type": ["string", "null"], "default": "/oauth/v3/token"},
    },
}

_CONN_FIELDS: dict[str, Any] = {
    **{knob.name: knob.conn_field() for knob in CONNECTION_KNOBS},
    **_AUTH_FIELDS,
}


_INTEGRATION = "HubSpot Marketing Events"


def _modules(*modules: str) -> list[dict[str, Any]]:
    """A hooks/operators/sensors/triggers section: the integration's modules."""
    return [{"integration-name": _INTEGRATION, "python-modules": list(modules)}]


def _connection_type() -> dict[str, Any]:
    """The ``hubspot`` connection type: its hook, extra fields and the UI's labels."""
    return {
        "connection-type": "hubspot",
        "hook-class-name": "hubspot_events_provider.hooks.hubspot.HubSpotHook",
        "hook-name": "HubSpot",
        "conn-fields": _CONN_FIELDS,
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {
                "host": "API base URL",
                "password": "Access token",
            },
            "placeholders": {
                "host": "https://api.hubapi.com",
                "password": "Private app token or Service Key (pat-na1-...)",
                "extra": '{"api_version": "2026-03", "max_requests_per_10s": 190}',
            },
        },
    }


def _asset_uri() -> dict[str, Any]:
    """The ``hubspot://`` asset scheme's handler, factory and OpenLineage converter."""
    return {
        "schemes": ["hubspot"],
        "handler": "hubspot_events_provider.assets.sanitize_uri",
        "factory": "hubspot_events_provider.assets.create_asset",
        "to_openlineage_converter": "hubspot_events_provider.assets.convert_asset_to_openlineage",
    }


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata for Airflow's ProvidersManager."""
    return {
        "package-name": "airflow-provider-hubspot-events",
        "name": _INTEGRATION,
        # Airflow lists versions[0] as the installed version (`airflow providers list`).
        "versions": [__version__],
        "description": "Batch-upsert HubSpot Marketing Events from a warehouse, a file or XCom; "
        "threshold checks, a readiness sensor and a local HubSpot sandbox.",
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://developers.hubspot.com/docs/api-reference/marketing-marketing-events-v2026-03/guide",
                "tags": ["service"],
            }
        ],
        "hooks": _modules("hubspot_events_provider.hooks.hubspot"),
        "operators": _modules("hubspot_events_provider.operators.marketing_events"),
        "sensors": _modules("hubspot_events_provider.sensors.marketing_events"),
        "triggers": _modules(
            "hubspot_events_provider.triggers.marketing_events", "hubspot_events_provider.triggers.attendance"
        ),
        "asset-uris": [_asset_uri()],
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
        "connection-types": [_connection_type()],
    }
