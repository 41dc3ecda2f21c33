"""The digest of a payload: what the sync state compares to tell an unchanged row from a changed one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["canonical_json", "payload_digest"]


def canonical_json(payload: Mapping[str, Any]) -> str:
    """The canonical JSON text of a normalised HubSpot payload.

    Keys sorted, no whitespace, UTF-8 kept, and ``customProperties`` ordered by name: HubSpot merges
    custom properties by name, so re-ordering the configuration must not make every row "changed".

    :param payload: an event payload as sent to HubSpot.
    :raises ValueError: on NaN or infinity (HubSpot refuses them anyway).
    """
    data = dict(payload)
    props = data.get("customProperties")
    if isinstance(props, list):
        data["customProperties"] = sorted(
            props, key=lambda p: str(p.get("name")) if isinstance(p, Mapping) else str(p)
        )
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def payload_digest(payload: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of :func:`canonical_json`: stable across processes, versions and runs.

    :param payload: an event payload as sent to HubSpot.
    """
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()
