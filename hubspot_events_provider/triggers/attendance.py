"""Trigger of the deferrable attendance sensor
(:class:`~hubspot_events_provider.sensors.attendance.MarketingEventAttendanceSensor`).

The trigger runs in Airflow's triggerer. Its serialised form carries only the connection id, the
participations still not visible (event keys, contact and the state each should show), the poke
interval and the deadline: never a credential (the triggerer reads the Connection itself, like a
worker does). Each read is :func:`~hubspot_events_provider.core.kinds.attendance.readback.read_visible`,
the comparison poke mode uses.

As :class:`~hubspot_events_provider.triggers.marketing_events.MarketingEventsTrigger` does, the
synchronous client is built in asgiref's thread and every round of reads runs in a worker thread:
the triggerer's event loop never blocks on HubSpot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from hubspot_events_provider.core.errors import HubSpotError
from hubspot_events_provider.core.kinds.attendance.readback import (
    EventUnknownError,
    Participation,
    not_visible_message,
    read_visible,
)
from hubspot_events_provider.hooks.failures import is_permanent

if TYPE_CHECKING:
    from hubspot_events_provider.core.http.client import HubSpotClient

__all__ = ["MarketingEventAttendanceTrigger"]


class MarketingEventAttendanceTrigger(BaseTrigger):
    """Read participations until each shows its recorded state or the deadline passes.

    Fires one event, the sensor's ``execute_complete`` input:

    * ``{"status": "success", "found": [what poke mode returns per participation, ...]}``;
    * ``{"status": "timeout", "found": [...], "missing": [[account, event, contact, state], ...],
      "message": "n of m participation(s) are still not visible in HubSpot: ..."}``;
    * ``{"status": "error", "fatal": bool, "message": str, "found": [...]}``: ``fatal`` for auth and
      scope errors and an event HubSpot does not know (retries cannot heal them), else any other
      HubSpot error (Airflow retries apply).

    :param hubspot_conn_id: the HubSpot Airflow Connection.
    :param keys: ``[externalAccountId, externalEventId, contact, subscriberState]`` of each
        participation to wait for (``contact`` is ``email:<address>`` or ``vid:<id>``; the state is
        the one it should show).
    :param poke_interval: seconds between two rounds of reads.
    :param end_at: deadline, seconds since the epoch (UTC).
    :param sampled: how many participations the sensor sampled (for the timeout message).
    """

    def __init__(
        self,
        *,
        hubspot_conn_id: str,
        keys: Sequence[Sequence[str]],
        poke_interval: float,
        end_at: float,
        sampled: int | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.hubspot_conn_id = hubspot_conn_id
        self.keys = [Participation(*(str(part) for part in key)) for key in keys]
        self.poke_interval = float(poke_interval)
        self.end_at = float(end_at)
        self.sampled = len(self.keys) if sampled is None else int(sampled)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments: no credential, only ids and expected states."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "hubspot_conn_id": self.hubspot_conn_id,
                "keys": [list(key) for key in self.keys],
                "poke_interval": self.poke_interval,
                "end_at": self.end_at,
                "sampled": self.sampled,
            },
        )

    def _client(self) -> HubSpotClient:
        # Imported here: the hook module imports Airflow's Task SDK, which the triggerer has.
        from hubspot_events_provider.hooks.hubspot import HubSpotHook

        return HubSpotHook(hubspot_conn_id=self.hubspot_conn_id).get_conn()

    @staticmethod
    def _read_round(
        client: HubSpotClient,
        pending: list[Participation],
        found: dict[Participation, dict[str, Any]],
        unknown: set[tuple[str, str]],
    ) -> None:
        """One round of blocking reads (runs in a worker thread); ``unknown`` ends it holding the
        events HubSpot answered 404 for (its read lag, or an event it will never know)."""
        unknown.clear()
        for target in pending:
            try:
                seen = read_visible(client, target)
            except EventUnknownError as exc:
                unknown.add(exc.event)
                continue
            if seen is not None:
                found[target] = seen

    def _event(self, status: str, found: dict[Participation, dict[str, Any]], **more: Any) -> TriggerEvent:
        payload = {"status": status, "found": [found[key] for key in self.keys if key in found]}
        return TriggerEvent({**payload, **more})  # type: ignore[no-untyped-call]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll every ``poke_interval`` seconds; yield one event and stop."""
        found: dict[Participation, dict[str, Any]] = {}
        unknown: set[tuple[str, str]] = set()
        client: HubSpotClient | None = None
        try:
            # asgiref's thread for the connection lookup, as MarketingEventsTrigger explains.
            client = await sync_to_async(self._client)()
            while True:
                pending = [key for key in self.keys if key not in found]
                await asyncio.to_thread(self._read_round, client, pending, found, unknown)
                missing = [key for key in self.keys if key not in found]
                if not missing:
                    yield self._event("success", found)
                    return
                self.log.info("%d of %d participation(s) not visible yet", len(missing), len(self.keys))
                if time.time() + self.poke_interval > self.end_at:
                    yield self._event(
                        "timeout",
                        found,
                        missing=[list(key) for key in missing],
                        unknown=[list(event) for event in sorted(unknown)],
                        message=not_visible_message(missing, self.sampled, unknown),
                    )
                    return
                await asyncio.sleep(self.poke_interval)
        except HubSpotError as exc:  # the same split as poke mode's fail_task_on_permanent_errors
            yield self._event("error", found, fatal=is_permanent(exc), message=str(exc))
        finally:
            if client is not None:
                client.close()
