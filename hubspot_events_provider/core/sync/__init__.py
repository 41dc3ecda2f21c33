"""Sync state: the state (its SQLite file, digest, missing keys, storage), the delete guardrails
and the sync run (options, the plan before sending, the run)."""
