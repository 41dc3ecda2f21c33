"""Rows: readers (sources: files, JSON, CSV, cursor), JSON codec, normalisation, mapping helpers
and a row's identity."""
