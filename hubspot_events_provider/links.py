"""Operator extra links: the portal's Marketing Events page in HubSpot, and the rejected-rows file.

In Airflow 3 the worker computes each link when the task finishes (``get_link`` on the operator that
ran) and stores it in XCom; the UI only reads it. The links read what the run recorded on the
operator (:class:`~hubspot_events_provider.lineage.HubSpotNativeMixin`): no extra HubSpot call.
An empty string means "no link" (a dry run, no rejected rows).
"""

from __future__ import annotations

import os
from typing import Any

from airflow.providers.common.compat.sdk import BaseOperatorLink

__all__ = ["HubSpotMarketingEventsLink", "HubSpotRejectedRowsLink"]


class HubSpotMarketingEventsLink(BaseOperatorLink):
    """The Marketing Events page of the HubSpot account (portal) the task wrote to."""

    name = "HubSpot Marketing Events"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        account = getattr(operator, "hubspot_account", None) or {}
        portal = account.get("portalId")
        if portal is None:
            return ""
        domain = account.get("uiDomain") or "app.hubspot.com"
        return f"https://{domain}/marketing-events/{portal}"


class HubSpotRejectedRowsLink(BaseOperatorLink):
    """The rejected-rows file of the run (JSON Lines), when any row was not upserted."""

    name = "Rejected rows"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        summary = getattr(operator, "hubspot_summary", None) or {}
        path = summary.get("rejected_path")
        if not path or not summary.get("numErrors"):
            return ""
        path = str(path)
        if "://" in path:
            return path
        return f"file://{os.path.abspath(path)}"
