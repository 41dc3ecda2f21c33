"""Marketing events: the mapper, the upsert kind, the event API calls and the read-back."""
