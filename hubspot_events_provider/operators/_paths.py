"""Moved to :mod:`hubspot_events_provider._storage` (one storage module for every adapter).

Kept as a re-export so code written against the old location keeps working.
"""

from __future__ import annotations

from hubspot_events_provider._storage import (
    InputPath,
    TemplatedPath,
    default_report_path,
    inline_path_templates,
    open_for_writing,
    resolve_input_path,
    resolve_output_path,
)

__all__ = [
    "InputPath",
    "TemplatedPath",
    "default_report_path",
    "inline_path_templates",
    "open_for_writing",
    "resolve_input_path",
    "resolve_output_path",
]
