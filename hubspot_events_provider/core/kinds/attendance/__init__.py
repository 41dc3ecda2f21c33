"""Participations: the mapper, the attendance kind, its HubSpot calls and read-back."""
