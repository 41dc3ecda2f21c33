"""A task process for the kill test: upsert a JSON Lines file into the sandbox, as a task would.

Run as ``python -m tests.reliability._kill_worker INPUT REJECTED RESULTS`` with ``HUBSPOT_URL`` and
``HUBSPOT_TOKEN`` in the environment (the token never on the command line). Exits 0 on success.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions, run_upsert
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import rows_from_file


def main(argv: list[str]) -> int:
    source, rejected_path, results_path = (Path(a) for a in argv)
    config = ClientConfig(
        base_url=os.environ["HUBSPOT_URL"], max_requests_per_10s=10_000, backoff_base=0.01, backoff_cap=0.05
    )
    with (
        HubSpotClient(config, StaticTokenAuth(os.environ["HUBSPOT_TOKEN"])) as client,
        rejected_path.open("wb") as rejected,
        results_path.open("wb") as results,
    ):
        report = UpsertReport(rejected=JsonLinesWriter(rejected), results=JsonLinesWriter(results))
        run_upsert(
            rows_from_file(lambda: source.open("rb"), name=str(source)),
            EventMapper(),
            client,
            report,
            options=UpsertOptions(batch_size=10, max_in_flight=2, source=str(source)),
        )
    print(report.summary()["upserted"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
