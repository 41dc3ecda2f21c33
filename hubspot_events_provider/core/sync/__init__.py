"""Sync state: the state, its storage, the delete guardrails and the sync run."""
