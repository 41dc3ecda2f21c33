"""What a run sends through: the HubSpot client from the connection and, for a mapped task, the
share of the app's rate budget (``budget_sharers``) counted from the map.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubspot_events_provider.core.sync.run import SyncLogger as Logger
from hubspot_events_provider.hooks.hubspot import HubSpotHook

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from hubspot_events_provider.core.http.client import HubSpotClient

__all__ = ["Sending", "TaskSlots", "headroom_reader", "mapped_sharers", "open_sending"]


@dataclass(frozen=True)
class Sending:
    """What a run sends through: the client (``None`` on a dry run) and its counters/headroom."""

    client: HubSpotClient | None
    stats: Callable[[], Mapping[str, int]] | None
    headroom: Callable[[], str | None] | None


@dataclass(frozen=True)
class TaskSlots:
    """The task as budget sharing sees it: its id and its caps on instances running at once."""

    task_id: str
    max_active_tis_per_dag: int | None
    max_active_tis_per_dagrun: int | None


def open_sending(
    context: Context,
    *,
    hubspot_conn_id: str,
    hook_params: Mapping[str, Any],
    task: TaskSlots,
    log: Logger,
) -> Sending:
    """The client from the connection; a mapped task's ``budget_sharers`` when neither the
    connection nor ``hook_params`` sets it."""
    hook = HubSpotHook(hubspot_conn_id=hubspot_conn_id, **hook_params)
    detected = None
    if hook.build_config().budget_sharers is None:  # neither the Connection nor hook_params
        detected = mapped_sharers(context, task, log)
        if detected is not None:
            hook.overrides["budget_sharers"] = detected  # before the client is built
    client = hook.get_conn()
    _log_sharers(log, client, detected=detected is not None)
    return Sending(client, client.stats.snapshot, headroom_reader(client))


def _log_sharers(log: Logger, client: HubSpotClient, *, detected: bool) -> None:
    """Say how many tasks the limiter shares the budget with, as the limiter itself holds it."""
    sharers = client.limiter.state.sharers
    if sharers < 1:  # unknown: the limiter learns it from HubSpot's headers
        return
    if detected:
        log.info(
            "Sharing the app's rate budget with %d mapped tasks (budget_sharers=%d; set it in "
            "hook_params when a pool runs fewer at once)",
            sharers,
            sharers,
        )
    else:
        log.info(
            "Sharing the app's rate budget with %d tasks (budget_sharers=%d, set on the connection "
            "or in hook_params)",
            sharers,
            sharers,
        )


def mapped_sharers(context: Context, task: TaskSlots, log: Logger) -> int | None:
    """How many instances of this mapped task share the app's rate budget: the map's length in
    this run, capped by ``max_active_tis_per_dag`` / ``max_active_tis_per_dagrun`` when set.

    :returns: ``None`` for an unmapped task, or when the count cannot be read (an old API
        server, no supervisor): the limiter then learns it from HubSpot's headers, so a failure
        here never fails the task.
    """
    ti = context.get("ti")  # absent when execute() is called by hand
    if ti is None or getattr(ti, "map_index", -1) < 0:
        return None
    try:
        where: dict[str, Any] = {"dag_id": ti.dag_id, "task_ids": [ti.task_id], "run_ids": [ti.run_id]}
        # Instances a shorter map left "removed" (a cleared run whose input shrank) never run.
        count = int(ti.get_ti_count(**where)) - int(ti.get_ti_count(**where, states=["removed"]))
    except Exception as exc:  # noqa: BLE001 (a hint only; never fail the task over it)
        log.debug(
            "Could not count the mapped instances of %s (%r); budget_sharers left unset.",
            task.task_id,
            exc,
        )
        return None
    caps = (task.max_active_tis_per_dag, task.max_active_tis_per_dagrun)
    sharers = min([count, *(cap for cap in caps if cap is not None and cap >= 1)])
    return sharers if sharers >= 1 else None


def headroom_reader(client: HubSpotClient) -> Callable[[], str | None]:
    """A reader of the client's last rate-limit headers, for progress lines."""

    def read() -> str | None:
        status = client.rate_limit_status
        if status is None:
            return None
        return (
            f"{status.remaining}/{status.max} requests left in the {status.interval_ms / 1000:.0f} s window"
        )

    return read
