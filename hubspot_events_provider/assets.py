"""The ``hubspot`` asset URI scheme: ``hubspot://<portalId>/marketing-events`` (the events upsert)
and ``hubspot://<portalId>/marketing-event-participations`` (the attendance operator).

Registered in the provider info (``asset-uris``): Airflow calls :func:`sanitize_uri` on every
``hubspot://`` asset a DAG declares, :func:`create_asset` builds one, and the OpenLineage provider
turns it into the dataset the write operator reports (namespace ``hubspot://<portalId>``, name
``marketing-events`` or ``marketing-event-participations``), so an asset and the lineage output are
the same node. When a task with such
an outlet finishes, its asset event carries the run's counts (see :data:`ASSET_EVENT_KEYS`).
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from urllib.parse import SplitResult

    from airflow.providers.common.compat.openlineage.facet import Dataset as OpenLineageDataset
    from airflow.providers.common.compat.sdk import Asset

__all__ = [
    "ASSET_EVENT_KEYS",
    "MARKETING_EVENTS",
    "PARTICIPATIONS",
    "SCHEME",
    "convert_asset_to_openlineage",
    "create_asset",
    "sanitize_uri",
]

SCHEME = "hubspot"
#: The HubSpot object the provider writes; the asset URI's path and the OpenLineage dataset name.
MARKETING_EVENTS = "marketing-events"
#: Marketing-event participations (registrations, attendance, cancellations): what attendance writes.
PARTICIPATIONS = "marketing-event-participations"
#: Keys of the run summary copied into the asset event's ``extra``.
ASSET_EVENT_KEYS = ("upserted", "rejected", "failed", "total", "error_rate", "rejected_path")
_OBJECTS = frozenset({MARKETING_EVENTS, PARTICIPATIONS})


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Check a ``hubspot://<portalId>/<object>`` URI: a numeric portal id and a known object.

    :raises ValueError: any other shape (Airflow refuses the DAG with the message).
    """
    if not uri.netloc.isdigit():
        raise ValueError(f"hubspot:// asset URIs need the numeric portal id as host, got {uri.netloc!r}")
    name = uri.path.strip("/")
    if name not in _OBJECTS:
        raise ValueError(f"hubspot:// asset URIs name one of {sorted(_OBJECTS)} as path, got {uri.path!r}")
    return uri._replace(path=f"/{name}", query="", fragment="")


def create_asset(
    *, portal_id: str | int, name: str = MARKETING_EVENTS, extra: dict[str, Any] | None = None
) -> Asset:
    """The asset of a portal's HubSpot object, e.g. ``create_asset(portal_id=62515)``."""
    from airflow.providers.common.compat.sdk import Asset

    return Asset(uri=f"{SCHEME}://{portal_id}/{name}", extra=extra)


def convert_asset_to_openlineage(asset: Asset, lineage_context: Any = None) -> OpenLineageDataset:
    """The OpenLineage dataset of a ``hubspot://`` asset: namespace ``hubspot://<portalId>``."""
    from airflow.providers.common.compat.openlineage.facet import Dataset as OpenLineageDataset

    parsed = urllib.parse.urlsplit(asset.uri)
    return OpenLineageDataset(namespace=f"{SCHEME}://{parsed.netloc}", name=parsed.path.strip("/"))


def is_hubspot_asset(obj: Any) -> bool:
    """Whether ``obj`` is an asset with a ``hubspot://`` URI (an outlet this provider fills)."""
    uri = getattr(obj, "uri", None)
    return isinstance(uri, str) and uri.startswith(f"{SCHEME}://")
