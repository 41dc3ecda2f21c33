"""Fast JSON for the hot paths (reading JSON Lines, spooling payloads), exact to the stdlib.

``msgspec`` (already required by Airflow's Task SDK) decodes and encodes several times faster than
``json``. Whatever it refuses (malformed JSON, but also ``NaN`` literals or integers beyond 64 bits,
which the stdlib accepts) is handed to ``json``, so results and error messages stay the stdlib's.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import msgspec

__all__ = ["decode", "encode_payload", "json_default"]

_fast_decode = msgspec.json.decode
_FastError = msgspec.DecodeError


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback for values a DB-API cursor or XCom may hold (datetime, Decimal...).

    :param value: a value the JSON encoder cannot serialise by itself.
    """
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


# Types msgspec cannot encode (a set in ``defaults``...) take the report files' fallback.
_encoder = msgspec.json.Encoder(enc_hook=json_default)


def decode(text: str | bytes) -> Any:
    """Decode one JSON document like ``json.loads`` does (raising ``json.JSONDecodeError``)."""
    try:
        return _fast_decode(text)
    except _FastError:
        return json.loads(text)


def encode_payload(payload: Any) -> bytes:
    """Encode a HubSpot input object (strings, booleans, lists and dicts; anything else through
    :func:`json_default`) as compact JSON."""
    return _encoder.encode(payload)
