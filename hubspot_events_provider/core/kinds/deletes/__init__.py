"""Deletes by external ids: the key mapper and the delete kind."""
