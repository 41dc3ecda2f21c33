"""Fast JSON for the hot paths (reading JSON Lines, spooling payloads), exact to the stdlib.

``msgspec`` (already required by Airflow's Task SDK) decodes and encodes several times faster than
``json``. Whatever it refuses (malformed JSON, but also ``NaN`` literals or integers beyond 64 bits,
which the stdlib accepts) is handed to ``json``, so results and error messages stay the stdlib's.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

__all__ = ["decode", "encode_payload"]

_fast_decode = msgspec.json.decode
_FastError = msgspec.DecodeError


def _fallback(value: Any) -> Any:
    """Types msgspec cannot encode (a set in ``defaults``...) take the report files' fallback."""
    from hubspot_events_provider.core.report import json_default

    return json_default(value)


_encoder = msgspec.json.Encoder(enc_hook=_fallback)


def decode(text: str | bytes) -> Any:
    """Decode one JSON document like ``json.loads`` does (raising ``json.JSONDecodeError``)."""
    try:
        return _fast_decode(text)
    except _FastError:
        return json.loads(text)


def encode_payload(payload: Any) -> bytes:
    """Encode a HubSpot input object (strings, booleans, lists and dicts; anything else through
    :func:`~hubspot_events_provider.core.report.json_default`) as compact JSON."""
    return _encoder.encode(payload)
