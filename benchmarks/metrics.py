"""Numbers computed from the sandbox's request log: 429s, achieved rate, the busiest window.

The log's ``at`` is the server's monotonic clock when each request arrived, so rates measured
here are what HubSpot would see, independent of client-side timing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["ceiling_events_per_s", "max_in_window", "summarise_log"]

EVENTS_PER_REQUEST = 100


def ceiling_events_per_s(rate_limit: int, window_s: float) -> float:
    """The best possible upsert rate: window limit x 100 events per request, per second.

    :param rate_limit: requests per window.
    :param window_s: window length in seconds.
    """
    return rate_limit * EVENTS_PER_REQUEST / window_s


def max_in_window(times: Sequence[float], window_s: float) -> int:
    """The most requests that arrived in any span of ``window_s`` seconds.

    :param times: arrival times, any order.
    :param window_s: window length in seconds.
    """
    ordered = sorted(times)
    best = 0
    lo = 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def summarise_log(
    records: Sequence[dict[str, Any]],
    rate_limit: int,
    window_s: float,
    paths: tuple[str, ...] = ("/events/upsert",),
) -> dict[str, Any]:
    """Summarise the upsert requests of one benchmark case.

    ``send_events_per_s`` counts accepted events between the first and the last request arrival,
    plus one mean interval, so a run of ``n`` evenly spaced requests at exactly the limit scores
    the ceiling.

    :param records: request-log dicts of one case (after a sandbox reset).
    :param rate_limit: requests per window configured on the sandbox.
    :param window_s: window length in seconds.
    :param paths: the write routes counted (path endings; attendance: ``/create``, ``/email-create``).
    """
    upserts = [r for r in records if r.get("path", "").endswith(paths)]
    times = [float(r["at"]) for r in upserts]
    limited = sum(1 for r in upserts if r.get("status") == 429)
    accepted = [r for r in upserts if r.get("status") in (200, 207)]
    accepted_events = sum(len(r.get("inputs") or ()) for r in accepted)
    summary: dict[str, Any] = {
        "requests": len(upserts),
        "accepted_requests": len(accepted),
        "rate_limited": limited,
        "rate_limited_pct": round(100.0 * limited / len(upserts), 3) if upserts else 0.0,
        "accepted_events": accepted_events,
        "max_requests_in_window": max_in_window(times, window_s) if times else 0,
        "window_limit": rate_limit,
    }
    if times:
        t0 = min(times)
        buckets = int((max(times) - t0) // window_s) + 1
        sent = [0] * buckets
        refused = [0] * buckets
        for r, t in zip(upserts, times, strict=True):
            index = int((t - t0) // window_s)
            sent[index] += 1
            if r.get("status") == 429:
                refused[index] += 1
        summary["requests_per_window"] = sent
        summary["rate_limited_per_window"] = refused
    if len(times) >= 2:
        span = max(times) - min(times)
        interval = span / (len(times) - 1)
        rate = accepted_events / (span + interval) if span + interval > 0 else 0.0
        summary["send_span_s"] = round(span, 3)
        summary["send_events_per_s"] = round(rate, 1)
        summary["send_fraction_of_ceiling"] = round(rate / ceiling_events_per_s(rate_limit, window_s), 4)
    return summary
