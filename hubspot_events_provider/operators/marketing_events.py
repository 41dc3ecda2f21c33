"""HubSpot Marketing Events operators (public import path).

:class:`UpsertMarketingEventsOperator` batch-upserts events (optionally with a sync state);
:class:`RecordMarketingEventAttendanceOperator` records their participations (register, attend,
cancel); :class:`DeleteMarketingEventsOperator` deletes the events its input names;
:class:`MarketingEventsUpsertCheckOperator` fails the DAG when an upsert's (or an attendance or
delete run's) errors pass a threshold. Each lives in its own module; this module is the stable
import path users' DAGs use (and the one ``get_provider_info`` registers).
"""

from __future__ import annotations

from hubspot_events_provider.operators.attendance import RecordMarketingEventAttendanceOperator
from hubspot_events_provider.operators.check import MarketingEventsUpsertCheckOperator
from hubspot_events_provider.operators.delete import DeleteMarketingEventsOperator
from hubspot_events_provider.operators.upsert import UpsertMarketingEventsOperator

__all__ = [
    "DeleteMarketingEventsOperator",
    "MarketingEventsUpsertCheckOperator",
    "RecordMarketingEventAttendanceOperator",
    "UpsertMarketingEventsOperator",
]
