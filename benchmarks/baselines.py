"""The three baselines, each sending batches of 100 the way its documentation shows.

* ``official``: ``hubspot-api-client`` 12.0.0, ``marketing.events.batch_api.upsert`` (v3 path),
  with the retry its README documents, ``Retry(total=5, status_forcelist=(429,))``. urllib3 never
  retries POST with that Retry, so a 429 raises ``ApiException`` and the batch is lost.
* ``sdk``: ``hubspot-sdk`` 0.1.0a9, ``marketing.marketing_events.upsert_batch`` (2026-03 path),
  default ``max_retries=2`` (retries 429 with 0.5 s x 2^n backoff, honours Retry-After).
* ``requests``: a plain ``requests.post`` per batch, ``raise_for_status()``, no retry.

Each runs a loop over batches (``threads=1``, as the docs show) or the same calls from a thread
pool (``threads>1``, what a user does to go faster). A batch whose call raises is counted as
failed: its events are not upserted. The baselines do no mapping or validation: they get the
events already in HubSpot's shape.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["BASELINES", "run_baseline"]

Batch = list[dict[str, Any]]


def _parse_ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _official_sender(url: str, token: str) -> Callable[[Batch], None]:
    from hubspot import HubSpot
    from hubspot.marketing.events import (
        BatchInputMarketingEventCreateRequestParams,
        MarketingEventCreateRequestParams,
        PropertyValue,
    )
    from urllib3.util.retry import Retry

    client = HubSpot(access_token=token, retry=Retry(total=5, status_forcelist=(429,)), host=url)
    api = client.marketing.events.batch_api

    def send(batch: Batch) -> None:
        inputs = [
            MarketingEventCreateRequestParams(
                external_account_id=e["externalAccountId"],
                external_event_id=e["externalEventId"],
                event_name=e["eventName"],
                event_organizer=e["eventOrganizer"],
                event_type=e.get("eventType"),
                start_date_time=_parse_ts(e["startDateTime"]),
                end_date_time=_parse_ts(e["endDateTime"]),
                event_description=e.get("eventDescription"),
                event_url=e.get("eventUrl"),
                event_cancelled=e.get("eventCancelled"),
                custom_properties=[
                    PropertyValue(name=p["name"], value=p["value"]) for p in e["customProperties"]
                ],
            )
            for e in batch
        ]
        api.upsert(BatchInputMarketingEventCreateRequestParams(inputs=inputs))

    return send


_SNAKE = {
    "externalAccountId": "external_account_id",
    "externalEventId": "external_event_id",
    "eventName": "event_name",
    "eventOrganizer": "event_organizer",
    "eventType": "event_type",
    "startDateTime": "start_date_time",
    "endDateTime": "end_date_time",
    "eventDescription": "event_description",
    "eventUrl": "event_url",
    "eventCancelled": "event_cancelled",
    "customProperties": "custom_properties",
}


def _sdk_sender(url: str, token: str) -> Callable[[Batch], None]:
    from hubspot_sdk import HubSpot

    client = HubSpot(access_token=token, base_url=url)

    def send(batch: Batch) -> None:
        inputs: Any = [{_SNAKE[k]: v for k, v in e.items()} for e in batch]
        client.marketing.marketing_events.upsert_batch(inputs=inputs)

    return send


def _requests_sender(url: str, token: str) -> Callable[[Batch], None]:
    import requests

    endpoint = f"{url}/marketing/marketing-events/2026-03/events/upsert"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send(batch: Batch) -> None:
        resp = requests.post(endpoint, json={"inputs": batch}, headers=headers, timeout=60)
        resp.raise_for_status()

    return send


BASELINES: dict[str, Callable[[str, str], Callable[[Batch], None]]] = {
    "official": _official_sender,
    "sdk": _sdk_sender,
    "requests": _requests_sender,
}


def run_baseline(
    name: str, url: str, token: str, events: Sequence[dict[str, Any]], *, threads: int = 1
) -> dict[str, Any]:
    """Upsert ``events`` with one baseline and say what happened on the client side.

    :param name: ``official``, ``sdk`` or ``requests``.
    :param url: sandbox base URL.
    :param token: sandbox Bearer token (never written anywhere).
    :param events: events in HubSpot's upsert shape.
    :param threads: 1 for a plain loop, more for a thread pool.
    :returns: ``wall_s``, ``batches``, ``failed_batches``, ``failed_events``, ``errors`` (by type).
    """
    send = BASELINES[name](url, token)
    batches = [list(events[i : i + 100]) for i in range(0, len(events), 100)]
    errors: dict[str, int] = {}

    def one(batch: Batch) -> bool:
        try:
            send(batch)
            return True
        except Exception as exc:
            kind = type(exc).__name__
            errors[kind] = errors.get(kind, 0) + 1
            return False

    started = time.perf_counter()
    if threads <= 1:
        ok = [one(b) for b in batches]
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            ok = list(pool.map(one, batches))
    wall = time.perf_counter() - started
    failed = [b for b, good in zip(batches, ok, strict=True) if not good]
    return {
        "wall_s": round(wall, 3),
        "batches": len(batches),
        "failed_batches": len(failed),
        "failed_events": sum(len(b) for b in failed),
        "errors": errors,
    }
