"""A task process for the sync-state kill test: a state-aware upsert of a JSON Lines file.

Run as ``python -m tests.reliability._sync_kill_worker INPUT STATE`` with ``HUBSPOT_URL`` and
``HUBSPOT_TOKEN`` in the environment (the token never on the command line). Exits 0 on success.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hubspot_events_provider.core.engine.report import UpsertReport
from hubspot_events_provider.core.http.auth import StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import ClientConfig
from hubspot_events_provider.core.kinds.events.kind import UpsertOptions
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.rows.sources import rows_from_file
from hubspot_events_provider.core.sync.run import SyncOptions, run_sync
from hubspot_events_provider.core.sync.state import SyncState


def main(argv: list[str]) -> int:
    source, state_path = (Path(a) for a in argv)
    config = ClientConfig(
        base_url=os.environ["HUBSPOT_URL"], max_requests_per_10s=10_000, backoff_base=0.01, backoff_cap=0.05
    )
    with HubSpotClient(config, StaticTokenAuth(os.environ["HUBSPOT_TOKEN"])) as client:
        report = UpsertReport()
        run_sync(
            rows_from_file(lambda: source.open("rb"), name=str(source)),
            EventMapper(),
            client,
            report,
            options=UpsertOptions(batch_size=10, max_in_flight=2, source=str(source)),
            state=SyncState(state_path, owner="kill-worker"),
            sync=SyncOptions(on_missing="delete"),
        )
    print(report.summary()["upserted"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
