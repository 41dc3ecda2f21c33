"""The kinds of write: events, attendance, deletes (each its mapper, kind, HubSpot calls, read-back)."""
