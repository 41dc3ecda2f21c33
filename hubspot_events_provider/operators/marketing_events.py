"""HubSpot Marketing Events operators (public import path).

:class:`UpsertMarketingEventsOperator` batch-upserts events; :class:`RecordMarketingEventAttendanceOperator`
records their participations (register, attend, cancel); :class:`MarketingEventsUpsertCheckOperator`
fails the DAG when an upsert's (or an attendance run's) errors pass a threshold. Each lives in
its own module; this module is the stable import path users' DAGs use.
"""

from __future__ import annotations

from hubspot_events_provider.operators.attendance import RecordMarketingEventAttendanceOperator
from hubspot_events_provider.operators.check import MarketingEventsUpsertCheckOperator
from hubspot_events_provider.operators.upsert import UpsertMarketingEventsOperator

__all__ = [
    "MarketingEventsUpsertCheckOperator",
    "RecordMarketingEventAttendanceOperator",
    "UpsertMarketingEventsOperator",
]
