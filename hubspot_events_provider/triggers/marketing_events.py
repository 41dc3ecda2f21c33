"""Trigger of the deferrable :class:`~hubspot_events_provider.sensors.marketing_events.MarketingEventsSensor`.

The trigger runs in Airflow's triggerer. Its serialised form carries only the connection id, the
event keys still missing, the poke interval and the deadline: never a credential (the triggerer
reads the Connection itself, like a worker does). The provider's HTTP client is synchronous, so the
connection lookup and every read run in a worker thread (asgiref / :func:`asyncio.to_thread`): the
triggerer's event loop, shared by every deferred task of the deployment, never blocks on HubSpot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from hubspot_events_provider.core.errors import (
    HubSpotError,
    HubSpotNotFoundError,
)
from hubspot_events_provider.hooks.failures import is_permanent

if TYPE_CHECKING:
    # The client module (requests, msgspec) is imported in the worker thread that builds the client,
    # not on the triggerer's event loop when the trigger is deserialised.
    from hubspot_events_provider.core.client import HubSpotClient

__all__ = ["MarketingEventsTrigger"]

EventKey = tuple[str, str]


def read_object_id(client: HubSpotClient, key: EventKey) -> str | None:
    """Read one event; its object id, ``""`` when HubSpot gives none, ``None`` when not readable yet."""
    account, event = key
    try:
        body = client.get_event(event, account)
    except HubSpotNotFoundError:
        return None
    object_id = body.get("objectId") or body.get("id")
    return str(object_id) if object_id is not None else ""


class MarketingEventsTrigger(BaseTrigger):
    """Read Marketing Events until all are readable or the deadline passes.

    Fires one event, the sensor's ``execute_complete`` input:

    * ``{"status": "success", "found": [[externalAccountId, externalEventId, objectId], ...]}``;
    * ``{"status": "timeout", "found": [...], "missing": [[externalAccountId, externalEventId], ...]}``;
    * ``{"status": "error", "fatal": bool, "message": str, "found": [...]}``: ``fatal`` for auth and
      scope errors (retries cannot heal them), else any other HubSpot error (Airflow retries apply).

    :param hubspot_conn_id: the HubSpot Airflow Connection.
    :param keys: ``(externalAccountId, externalEventId)`` pairs to wait for.
    :param poke_interval: seconds between two rounds of reads.
    :param end_at: deadline, seconds since the epoch (UTC).
    """

    def __init__(
        self,
        *,
        hubspot_conn_id: str,
        keys: Sequence[Sequence[str]],
        poke_interval: float,
        end_at: float,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.hubspot_conn_id = hubspot_conn_id
        self.keys: list[EventKey] = [(str(account), str(event)) for account, event in keys]
        self.poke_interval = float(poke_interval)
        self.end_at = float(end_at)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments: no credential, only ids."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "hubspot_conn_id": self.hubspot_conn_id,
                "keys": [list(key) for key in self.keys],
                "poke_interval": self.poke_interval,
                "end_at": self.end_at,
            },
        )

    def _client(self) -> HubSpotClient:
        # Imported here: the hook module imports Airflow's Task SDK, which the triggerer has.
        from hubspot_events_provider.hooks.hubspot import HubSpotHook

        return HubSpotHook(hubspot_conn_id=self.hubspot_conn_id).get_conn()

    @staticmethod
    def _read_round(client: HubSpotClient, missing: list[EventKey], found: dict[EventKey, str]) -> None:
        """One round of blocking reads (runs in a worker thread)."""
        for key in missing:
            object_id = read_object_id(client, key)
            if object_id is not None:
                found[key] = object_id

    def _event(self, status: str, found: dict[EventKey, str], **more: Any) -> TriggerEvent:
        payload = {
            "status": status,
            "found": [[a, e, found[(a, e)]] for a, e in self.keys if (a, e) in found],
        }
        return TriggerEvent({**payload, **more})  # type: ignore[no-untyped-call]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll every ``poke_interval`` seconds; yield one event and stop."""
        found: dict[EventKey, str] = {}
        client: HubSpotClient | None = None
        try:
            # asgiref's thread, not asyncio.to_thread: the connection lookup (and the hook's
            # mask_secret) talk to the triggerer's supervisor, and Airflow 3.0's comms are only safe
            # from a thread that asgiref ties back to this event loop (measured on 3.0.6: "Response
            # read out of order" killed the trigger runner with asyncio.to_thread).
            client = await sync_to_async(self._client)()
            while True:
                missing = [key for key in self.keys if key not in found]
                await asyncio.to_thread(self._read_round, client, missing, found)
                missing = [key for key in self.keys if key not in found]
                if not missing:
                    yield self._event("success", found)
                    return
                self.log.info("%d of %d event(s) not readable yet", len(missing), len(self.keys))
                if time.time() + self.poke_interval > self.end_at:
                    yield self._event("timeout", found, missing=[list(key) for key in missing])
                    return
                await asyncio.sleep(self.poke_interval)
        except HubSpotError as exc:  # the same split as poke mode's fail_task_on_permanent_errors
            yield self._event("error", found, fatal=is_permanent(exc), message=str(exc))
        finally:
            if client is not None:
                client.close()
