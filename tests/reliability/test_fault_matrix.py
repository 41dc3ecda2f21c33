"""Seeded fault-injection runs: each fault kind x each partial-failure mode over ~1k events.

After every run :func:`~tests.reliability.harness.check_invariants` proves the promise: every valid
row is in the sandbox with its latest values, every invalid or refused row is in the rejected file
with a reason, no row is in both or neither, no event was created twice, and the run ended as it
should (success at a few percent of faults; failure only where the retries ran out, after which a
rerun, as an Airflow retry would do, completes the job). ``slow`` soak runs use more events and seeds.
"""

from __future__ import annotations

import threading
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from hubspot_events_provider.core.errors import (
    HubSpotRateLimitError,
    HubSpotServerError,
    HubSpotTransportError,
)
from hubspot_events_provider.core.http.auth import OAuthAuth
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions
from hubspot_events_provider.sandbox import Fault, SandboxConfig, SandboxServer
from tests.reliability.conftest import Recorder
from tests.reliability.harness import (
    Workload,
    check_invariants,
    fast_config,
    make_workload,
    run_core,
)

MODES = ("200", "207", "400")

#: Fault kind -> the fault list of a "few percent" run; ``oauth_expiry`` is driven by a thread.
FAULTS: dict[str, list[Fault]] = {
    "5xx_before": [Fault(kind="5xx_before", probability=0.08, route="upsert", status=503)],
    "5xx_after": [Fault(kind="5xx_after", probability=0.08, route="upsert", status=500)],
    "drop_before": [Fault(kind="drop_before", probability=0.06, route="upsert")],
    "drop_after": [Fault(kind="drop_after", probability=0.06, route="upsert")],
    "truncate": [Fault(kind="truncate", probability=0.06, route="upsert")],
    "latency": [Fault(kind="latency", probability=0.1, route="upsert", latency_s=0.03)],
    "429": [Fault(kind="429", probability=0.08, route="upsert")],
    "oauth_expiry": [],
}

CLIENT_ID, CLIENT_SECRET = "client-id", f"oauth-secret-CANARY-{uuid.uuid4()}"
REFRESH_TOKEN = f"refresh-CANARY-{uuid.uuid4()}"
TOKEN = f"pat-na1-CANARY-{uuid.uuid4()}"
SECRETS = (TOKEN, CLIENT_SECRET, REFRESH_TOKEN)


def sandbox_config(kind: str, mode: str, w: Workload, seed: int) -> SandboxConfig:
    return SandboxConfig(
        tokens=(TOKEN,),
        partial_mode=mode,  # type: ignore[arg-type]
        reject_external_event_ids=w.reject_ids,
        seed=seed,
        # Two certain injections early (so every run sees its fault), then a seeded few percent.
        faults=[Fault(**{**vars(f), "probability": 1.0, "times": 2}) for f in FAULTS[kind]]
        + [Fault(**vars(f)) for f in FAULTS[kind]],
        oauth_clients={CLIENT_ID: CLIENT_SECRET},
        refresh_tokens={REFRESH_TOKEN: CLIENT_ID},
    )


@contextmanager
def expiring_tokens(sandbox: SandboxServer, every_applied: int, times: int) -> Iterator[list[int]]:
    """Expire every OAuth access token each time ``every_applied`` more rows were applied."""
    done: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.01) and len(done) < times:
            if sandbox.stats()["applied_upserts"] >= every_applied * (len(done) + 1):
                sandbox.expire_access_tokens()
                done.append(1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join()


def run_faulty(kind: str, mode: str, n: int, seed: int, record: Recorder, name: str) -> dict[str, Any]:
    w = make_workload(n, seed=seed)
    with SandboxServer(sandbox_config(kind, mode, w, seed)) as sb:
        config = fast_config(sb.url)
        if kind == "oauth_expiry":
            auth = OAuthAuth(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
            with expiring_tokens(sb, every_applied=max(n // 5, 1), times=3) as expiries:
                out = run_core(w.rows, sb, config=config, auth=auth, options=UpsertOptions(batch_size=25))
            assert len(expiries) == 3, "the run ended before the tokens were expired three times"
            # The first token, then at least one refresh after an expiry (two expiries between the same
            # pair of requests are healed by one refresh, so "one per expiry" is not guaranteed).
            assert auth.refresh_count >= 2
            assert any(r.status == 401 for r in sb.requests()), "no request met an expired token"
        else:
            out = run_core(w.rows, sb, config=config, options=UpsertOptions(batch_size=25, max_in_flight=4))
        assert out.error is None, f"{kind}/{mode}: the run failed: {out.error!r}"
        texts = [out.report.summary().__repr__()]
        figures = check_invariants(w, sb, out.rejected, out.results, secrets=SECRETS, texts=texts)
        if kind == "oauth_expiry":
            figures["faults"] = {"oauth_expiry": 3}
        else:
            assert figures["faults"].get(kind, 0) > 0, f"no {kind} fault was injected"
        summary = out.report.summary()
        # (reading overlaps sending: a row sent before its later duplicate counts by its answer)
        decided = summary["upserted"] + summary["failed"] + summary["superseded"]
        assert decided == len(w.upserted | w.hubspot_failed | w.superseded)
        assert summary["upserted"] >= len(w.upserted)
        assert summary["failed"] >= len(w.hubspot_failed)
        if kind in ("5xx_before", "5xx_after", "drop_before", "drop_after", "truncate", "429"):
            assert summary["retries"] > 0
        record(figures, outcome="success", name=name)
        return figures


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", list(FAULTS))
def test_fault_matrix(kind: str, mode: str, record_run: Recorder) -> None:
    run_faulty(
        kind,
        mode,
        n=1000,
        seed=zlib.crc32(f"{kind}/{mode}".encode()) % 10_000,
        record=record_run,
        name=f"{kind}/{mode}",
    )


# -- retries exhausted: the run fails with the right error, the report is exact, a rerun heals ------

EXHAUSTED = [
    ("5xx_before", HubSpotServerError),
    ("5xx_after", HubSpotServerError),
    ("drop_before", HubSpotTransportError),
    ("drop_after", HubSpotTransportError),
    # A cut-off 200 fails either as a bad body or, when the stream ends short, as a transport error.
    ("truncate", (HubSpotServerError, HubSpotTransportError)),
    ("429", HubSpotRateLimitError),
]


@pytest.mark.parametrize(("kind", "error"), EXHAUSTED)
def test_retries_exhausted_fail_the_run_then_a_rerun_completes(
    kind: str, error: type[Exception] | tuple[type[Exception], ...], record_run: Recorder
) -> None:
    w = make_workload(300, seed=7)
    with SandboxServer(SandboxConfig(tokens=(TOKEN,), reject_external_event_ids=w.reject_ids)) as sb:
        # Let a few batches through first, so the failure happens mid-run.
        sb.add_fault(Fault(kind="latency", probability=1.0, times=3, route="upsert", latency_s=0.0))
        sb.add_fault(Fault(kind=kind, probability=1.0, route="upsert"))  # type: ignore[arg-type]
        config = fast_config(sb.url, max_retries=2, max_retry_time=5.0)
        first = run_core(w.rows, sb, config=config, options=UpsertOptions(batch_size=20, max_in_flight=2))
        assert isinstance(first.error, error), repr(first.error)
        assert first.report.upserted < len(w.upserted)
        text = f"{first.error} {first.error!r}"
        partial = check_invariants(
            w, sb, first.rejected, first.results, complete=False, secrets=SECRETS, texts=[text]
        )
        record_run(partial, outcome=f"failed:{type(first.error).__name__}", name=f"exhausted {kind}")

        sb.clear_faults()
        second = run_core(w.rows, sb, config=config)
        assert second.error is None
        figures = check_invariants(w, sb, second.rejected, second.results, secrets=SECRETS)
        figures["faults"] = {}
        record_run(figures, outcome="success(rerun)", name=f"exhausted {kind} rerun")


# -- soak ------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 23, 37])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", list(FAULTS))
def test_fault_soak(kind: str, mode: str, seed: int, record_run: Recorder) -> None:
    run_faulty(kind, mode, n=4000, seed=seed, record=record_run, name=f"soak {kind}/{mode}/{seed}")
