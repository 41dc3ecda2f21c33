"""How the example warehouse's event table maps to HubSpot, shared by the daily sync, the weekly
reconcile and the scale-out examples (a module of its own: a DAG file imported by another would be
collected twice)."""

from __future__ import annotations

HUBSPOT_CONN_ID = "hubspot_default"
WAREHOUSE_CONN_ID = "warehouse"
REPORTS_DIR = "{{ var.value.get('hubspot_events_reports_dir', '/tmp/hubspot-events') }}"

#: warehouse column -> HubSpot field (columns already named like HubSpot fields need no entry).
FIELD_MAP = {
    "event_id": "externalEventId",
    "account_id": "externalAccountId",
    "event_name": "eventName",
    "event_type": "eventType",
    "organizer": "eventOrganizer",
    "description": "eventDescription",
    "event_url": "eventUrl",
    "starts_at": "startDateTime",
    "ends_at": "endDateTime",
    "cancelled": "eventCancelled",
    "completed": "eventCompleted",
}
#: warehouse column -> HubSpot custom property (create the properties in HubSpot first: HubSpot
#: drops unknown ones silently, and the sensor's read-back then fails naming the property).
CUSTOM_PROPERTIES = {"region": "region", "capacity": "capacity"}
#: columns read on purpose but not sent; any other unmapped column fails the task before sending.
IGNORE_FIELDS = ["updated_at"]
