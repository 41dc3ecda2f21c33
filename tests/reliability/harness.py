"""Shared machinery of the reliability suite: seeded workloads, one run, and the invariant checker.

A :class:`Workload` is a seeded list of rows with a known fate for each: a few percent invalid
client-side (rejected at validation), some duplicates (earlier rows superseded), a few refused by
HubSpot (``reject_external_event_ids``). :func:`run_core` drives ``run_upsert`` against a sandbox
and returns a :class:`RunOutcome`; :func:`check_invariants` compares that outcome with the
workload and the sandbox's contents and request log, and returns the per-run figures the session
summary prints (events, faults by kind, rows lost, duplicates, leaks).
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.http.auth import Auth, StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import rows_from_events
from hubspot_events_provider.sandbox import SandboxServer

ACCOUNT = "acme"

#: Client-side invalid variants: (name, function turning a valid row into an invalid one).
_INVALID: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
    ("bad date", lambda r: {**r, "startDateTime": "next tuesday"}),
    ("empty name", lambda r: {**r, "eventName": "   "}),
    ("end before start", lambda r: {**r, "endDateTime": "2026-11-30T10:00:00Z"}),
    ("no event id", lambda r: {k: v for k, v in r.items() if k != "externalEventId"}),
    ("not an object", lambda r: [r["externalEventId"], r["eventName"]]),
)


def valid_row(eid: str, version: int) -> dict[str, Any]:
    """A valid event row; ``version`` goes into the name so the latest value is recognisable."""
    return {
        "externalAccountId": ACCOUNT,
        "externalEventId": eid,
        "eventName": f"Webinar {eid} v{version}",
        "eventOrganizer": "Acme Marketing",
        "eventType": "WEBINAR",
        "startDateTime": "2026-12-01T10:00:00Z",
        "endDateTime": "2026-12-01T11:00:00Z",
    }


@dataclass
class Workload:
    """Rows plus the expected fate of each (positions are 1-based, as in the report files)."""

    rows: list[Any]
    reject_ids: tuple[str, ...]
    invalid: set[int] = field(default_factory=set)
    superseded: set[int] = field(default_factory=set)
    hubspot_failed: set[int] = field(default_factory=set)
    upserted: set[int] = field(default_factory=set)
    latest: dict[str, str] = field(default_factory=dict)  # eid -> eventName expected in HubSpot

    @property
    def unique_sent(self) -> int:
        """Events HubSpot should hold at the end (valid, unique, not refused by HubSpot)."""
        return len(self.latest)


def make_workload(
    n: int,
    *,
    seed: int,
    invalid_rate: float = 0.03,
    duplicate_rate: float = 0.05,
    hubspot_reject_rate: float = 0.01,
) -> Workload:
    """Build ``n`` seeded rows with invalid rows, duplicates and HubSpot-side rejections mixed in.

    Some invalid rows reuse the key of a valid row (after it): the valid row must still win.
    """
    rng = random.Random(seed)
    rows: list[Any] = []
    kinds: list[str] = []
    keys: list[str] = []
    for i in range(n):
        r = rng.random()
        if r < invalid_rate:
            eid = rng.choice(keys) if keys and rng.random() < 0.3 else f"bad-{i}"
            _, spoil = _INVALID[rng.randrange(len(_INVALID))]
            rows.append(spoil(valid_row(eid, i)))
            kinds.append("invalid")
        elif r < invalid_rate + duplicate_rate and keys:
            eid = rng.choice(keys)
            rows.append(valid_row(eid, i))
            kinds.append("valid")
        else:
            eid = f"evt-{seed}-{i}"
            keys.append(eid)
            rows.append(valid_row(eid, i))
            kinds.append("valid")
    reject_ids = tuple(sorted(rng.sample(keys, max(1, int(len(keys) * hubspot_reject_rate)))))
    w = Workload(rows=rows, reject_ids=reject_ids)
    winner: dict[str, int] = {}
    for pos, (row, kind) in enumerate(zip(rows, kinds, strict=True), start=1):
        if kind == "invalid":
            w.invalid.add(pos)
            continue
        eid = row["externalEventId"]
        if eid in winner:
            w.superseded.add(winner[eid])
        winner[eid] = pos
    for eid, pos in winner.items():
        if eid in reject_ids:
            w.hubspot_failed.add(pos)
        else:
            w.upserted.add(pos)
            w.latest[eid] = rows[pos - 1]["eventName"]
    return w


def fast_config(url: str, **overrides: Any) -> ClientConfig:
    """A client config for tests: tiny backoff and rate window, so faulty runs stay fast."""
    settings: dict[str, Any] = {
        "base_url": url,
        "max_requests_per_10s": 10_000,
        "rate_window_s": 0.2,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        "max_retries": 8,
        "max_retry_time": 30.0,
        "connect_timeout": 2.0,
        "read_timeout": 10.0,
    }
    settings.update(overrides)
    return ClientConfig(**settings)


@dataclass
class RunOutcome:
    """What one run produced: the error raised (if any), the report and both report files."""

    error: BaseException | None
    report: UpsertReport
    rejected: list[dict[str, Any]]
    results: list[dict[str, Any]]
    log_text: str = ""


def run_core(
    rows: Iterable[Any],
    sandbox: SandboxServer | None,
    *,
    config: ClientConfig | None = None,
    auth: Auth | None = None,
    options: UpsertOptions | None = None,
    mapper: EventMapper | None = None,
) -> RunOutcome:
    """Run ``run_upsert`` over ``rows``; never raises, the error is in the outcome."""
    rejected_buf, results_buf = io.BytesIO(), io.BytesIO()
    report = UpsertReport(rejected=JsonLinesWriter(rejected_buf), results=JsonLinesWriter(results_buf))
    if config is None:
        assert sandbox is not None
        config = fast_config(sandbox.url)
    client = HubSpotClient(config, auth or StaticTokenAuth(sandbox.token if sandbox else "unused"))
    error: BaseException | None = None
    try:
        run_upsert(
            rows_from_events(list(rows), source="events"),
            mapper or EventMapper(),
            client,
            report,
            options=options or UpsertOptions(batch_size=40, max_in_flight=4),
            stats=client.stats.snapshot,
        )
    except Exception as exc:
        error = exc
    finally:
        client.close()
    return RunOutcome(
        error=error,
        report=report,
        rejected=[json.loads(line) for line in rejected_buf.getvalue().splitlines()],
        results=[json.loads(line) for line in results_buf.getvalue().splitlines()],
    )


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSON Lines report file (missing file = no lines)."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def faults_by_kind(sandbox: SandboxServer) -> dict[str, int]:
    """Faults the sandbox injected during the run, by kind (from its request log)."""
    return dict(Counter(r.fault for r in sandbox.requests() if r.fault))


def check_invariants(
    w: Workload,
    sandbox: SandboxServer,
    rejected: list[dict[str, Any]],
    results: list[dict[str, Any]],
    *,
    complete: bool = True,
    secrets: Iterable[str] = (),
    texts: Iterable[str] = (),
    overlap: bool = True,
) -> dict[str, Any]:
    """Check every promise of a run and return its figures.

    ``complete``: the run succeeded, so every row must be accounted for. Otherwise (a run that
    failed where retries ran out) only the rows it did report must be right: nothing reported
    upserted that HubSpot lacks, nothing reported in two places.

    ``overlap`` (the runner's default, ``UpsertOptions.overlap``): a row sent while the input was
    still read, before a later duplicate of its event, is accounted by its answer (upserted, or
    refused by HubSpot) instead of superseded, and HubSpot holds the later row's values.

    :returns: ``{"events", "faults", "lost", "duplicates", "leaks"}``; each assertion failure
        names the rows at fault.
    """
    stored = {e["externalEventId"]: e for e in sandbox.events()}
    by_stage: dict[str, set[int]] = {"validation": set(), "hubspot": set(), "superseded": set()}
    for line in rejected:
        assert line["stage"] in by_stage, line
        assert line["message"], f"row {line['position']} rejected without a reason: {line}"
        assert line["category"], line
        by_stage[line["stage"]].add(line["position"])
    upserted = [r["position"] for r in results]
    rejected_positions = [line["position"] for line in rejected]

    assert len(upserted) == len(set(upserted)), "a row was reported upserted twice"
    assert len(rejected_positions) == len(set(rejected_positions)), "a row was rejected twice"
    both = set(upserted) & set(rejected_positions)
    assert not both, f"rows both upserted and rejected: {sorted(both)[:20]}"

    # Rows of a later duplicate sent anyway: only while reading overlapped sending.
    sent_early = (set(upserted) | by_stage["hubspot"]) & w.superseded if overlap else set()

    # Whatever was reported upserted is in HubSpot with that row's values (or a later row's,
    # for a row sent before its later duplicate was read).
    for r in results:
        row = w.rows[r["position"] - 1]
        got = stored.get(r["externalEventId"])
        assert got is not None, f"row {r['position']} reported upserted but not in HubSpot"
        allowed = {row["eventName"]}
        if r["position"] in sent_early:
            later = (w.superseded | w.upserted) - set(range(1, r["position"] + 1))
            allowed |= {
                w.rows[p - 1]["eventName"]
                for p in later
                if w.rows[p - 1]["externalEventId"] == row["externalEventId"]
            }
        assert got["eventName"] in allowed, f"row {r['position']}: stale value in HubSpot"
        if r.get("objectId") is not None:
            assert str(got["objectId"]) == r["objectId"]
    assert by_stage["validation"] <= w.invalid
    hubspot = by_stage["hubspot"] - sent_early
    assert hubspot <= w.hubspot_failed, sorted(hubspot - w.hubspot_failed)
    assert by_stage["superseded"] <= w.superseded
    assert set(upserted) - sent_early <= w.upserted

    # No event created twice, nothing HubSpot-side that should not be.
    stats = sandbox.stats()
    duplicates = stats["creates"] - len(stored)
    assert duplicates == 0, f"{duplicates} events created twice"
    assert set(stored) <= set(w.latest), sorted(set(stored) - set(w.latest))[:20]

    lost = 0
    if complete:
        assert by_stage["validation"] == w.invalid, sorted(w.invalid ^ by_stage["validation"])[:20]
        superseded = by_stage["superseded"] | sent_early
        assert superseded == w.superseded, sorted(w.superseded ^ superseded)[:20]
        assert hubspot == w.hubspot_failed, sorted(w.hubspot_failed ^ hubspot)[:20]
        missing = set(w.latest) - set(stored)
        stale = [eid for eid, name in w.latest.items() if eid in stored and stored[eid]["eventName"] != name]
        lost = len(missing) + len(stale) + len(w.upserted - set(upserted))
        upserted_winners = set(upserted) - sent_early
        assert not missing, f"{len(missing)} valid rows never reached HubSpot: {sorted(missing)[:20]}"
        assert not stale, f"{len(stale)} events hold an older row's values: {stale[:20]}"
        assert upserted_winners == w.upserted
        assert stats["creates"] == w.unique_sent
        assert len(upserted) + len(rejected_positions) == len(w.rows)

    leaks = count_leaks(secrets, [*texts, json.dumps(rejected), json.dumps(results), *sandbox_urls(sandbox)])
    assert leaks == 0, "a secret leaked into a log, error, report file or URL"
    return {
        "events": len(w.rows),
        "faults": faults_by_kind(sandbox),
        "lost": lost,
        "duplicates": duplicates,
        "leaks": leaks,
    }


def sandbox_urls(sandbox: SandboxServer) -> list[str]:
    """Every path and query string the sandbox saw."""
    return [f"{r.path}?{r.query}" for r in sandbox.requests()]


def count_leaks(secrets: Iterable[str], texts: Iterable[str]) -> int:
    """How many (secret, text) pairs have the secret inside the text."""
    secret_list = [s for s in secrets if s]
    return sum(1 for text in texts for s in secret_list if s in text)


def summary_line(figures: Mapping[str, Any]) -> str:
    """One line of the session summary table."""
    faults = ",".join(f"{k}={v}" for k, v in sorted(figures.get("faults", {}).items())) or "-"
    return (
        f"{figures['name']:<44} events={figures['events']:>6} lost={figures['lost']} "
        f"dup={figures['duplicates']} leaks={figures['leaks']} outcome={figures.get('outcome', '?')} "
        f"faults[{faults}]"
    )
