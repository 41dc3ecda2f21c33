"""Rows: readers, JSON codec, normalisation, mapping helpers and a row's identity."""
