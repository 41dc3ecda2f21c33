"""Trigger of the deferrable :class:`~hubspot_events_provider.sensors.marketing_events.MarketingEventsSensor`.

The trigger runs in Airflow's triggerer. Its serialised form carries only the connection id, the
event keys still missing, the poke interval and the deadline, and, when the sensor verifies fields,
what was sent for those sampled events (field values from the results file, bounded by the sample
size): never a credential (the triggerer reads the Connection itself, like a worker does). It
compares what it reads with :mod:`hubspot_events_provider.core.kinds.events.readback`, as poke mode does.

The provider's HTTP client is synchronous, so the connection lookup and every read run in a worker
thread (asgiref / :func:`asyncio.to_thread`): the triggerer's event loop, shared by every deferred
task of the deployment, never blocks on HubSpot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from hubspot_events_provider.core.errors import (
    HubSpotError,
    HubSpotNotFoundError,
)
from hubspot_events_provider.core.kinds.events.readback import (
    Mismatch,
    compare_event,
    dropped_in,
    failure_message,
    still_differ_message,
)
from hubspot_events_provider.hooks.failures import is_permanent

if TYPE_CHECKING:
    # The client module (requests, msgspec) is imported in the worker thread that builds the client,
    # not on the triggerer's event loop when the trigger is deserialised.
    from hubspot_events_provider.core.http.client import HubSpotClient

__all__ = ["MarketingEventsTrigger"]

EventKey = tuple[str, str]


def read_event(client: HubSpotClient, key: EventKey) -> Mapping[str, Any] | None:
    """Read one event as HubSpot holds it; ``None`` when not readable yet."""
    account, event = key
    try:
        body: Mapping[str, Any] = client.get_event(event, account)
    except HubSpotNotFoundError:
        return None
    return body


def object_id_of(body: Mapping[str, Any]) -> str:
    """An event's object id, ``""`` when HubSpot gives none."""
    object_id = body.get("objectId") or body.get("id")
    return str(object_id) if object_id is not None else ""


def read_object_id(client: HubSpotClient, key: EventKey) -> str | None:
    """Read one event; its object id, ``""`` when HubSpot gives none, ``None`` when not readable yet."""
    body = read_event(client, key)
    return None if body is None else object_id_of(body)


class MarketingEventsTrigger(BaseTrigger):
    """Read Marketing Events until all are readable or the deadline passes.

    Fires one event, the sensor's ``execute_complete`` input:

    * ``{"status": "success", "found": [[externalAccountId, externalEventId, objectId], ...]}``;
    * ``{"status": "timeout", "found": [...], "missing": [[externalAccountId, externalEventId], ...]}``,
      plus ``"differs": message`` when readable events still differ from what was sent;
    * ``{"status": "error", "fatal": bool, "message": str, "found": [...]}``: ``fatal`` for auth and
      scope errors (retries cannot heal them) and for a custom property HubSpot dropped, else any
      other HubSpot error (Airflow retries apply).

    :param hubspot_conn_id: the HubSpot Airflow Connection.
    :param keys: ``(externalAccountId, externalEventId)`` pairs to wait for.
    :param poke_interval: seconds between two rounds of reads.
    :param end_at: deadline, seconds since the epoch (UTC).
    :param sent: ``[externalAccountId, externalEventId, sent]`` of the events whose fields are
        verified: one is done only once HubSpot holds what was sent.
    :param sampled: how many events the sensor sampled (for the failure message).
    """

    def __init__(
        self,
        *,
        hubspot_conn_id: str,
        keys: Sequence[Sequence[str]],
        poke_interval: float,
        end_at: float,
        sent: Sequence[Sequence[Any]] = (),
        sampled: int | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.hubspot_conn_id = hubspot_conn_id
        self.keys: list[EventKey] = [(str(account), str(event)) for account, event in keys]
        self.poke_interval = float(poke_interval)
        self.end_at = float(end_at)
        self.sent: dict[EventKey, Mapping[str, Any]] = {(str(a), str(e)): dict(v) for a, e, v in sent}
        self.sampled = len(self.keys) if sampled is None else int(sampled)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments: no credential, only ids."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "hubspot_conn_id": self.hubspot_conn_id,
                "keys": [list(key) for key in self.keys],
                "poke_interval": self.poke_interval,
                "end_at": self.end_at,
                "sent": [[a, e, dict(v)] for (a, e), v in self.sent.items()],
                "sampled": self.sampled,
            },
        )

    def _client(self) -> HubSpotClient:
        # Imported here: the hook module imports Airflow's Task SDK, which the triggerer has.
        from hubspot_events_provider.hooks.hubspot import HubSpotHook

        return HubSpotHook(hubspot_conn_id=self.hubspot_conn_id).get_conn()

    def _read_round(
        self,
        client: HubSpotClient,
        pending: list[EventKey],
        found: dict[EventKey, str],
        differs: dict[EventKey, list[Mismatch]],
    ) -> None:
        """One round of blocking reads (runs in a worker thread): each read event is compared with
        what was sent, as in poke mode."""
        for key in pending:
            body = read_event(client, key)
            if body is None:
                continue
            found[key] = object_id_of(body)
            sent = self.sent.get(key)
            mismatches = compare_event(sent, body) if sent is not None else []
            if mismatches:
                differs[key] = mismatches
            else:
                differs.pop(key, None)

    def _event(self, status: str, found: dict[EventKey, str], **more: Any) -> TriggerEvent:
        payload = {
            "status": status,
            "found": [[a, e, found[(a, e)]] for a, e in self.keys if (a, e) in found],
        }
        return TriggerEvent({**payload, **more})  # type: ignore[no-untyped-call]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll every ``poke_interval`` seconds; yield one event and stop."""
        found: dict[EventKey, str] = {}
        differs: dict[EventKey, list[Mismatch]] = {}
        client: HubSpotClient | None = None
        try:
            # asgiref's thread, not asyncio.to_thread: the connection lookup (and the hook's
            # mask_secret) talk to the triggerer's supervisor, and Airflow 3.0's comms are only safe
            # from a thread that asgiref ties back to this event loop (measured on 3.0.6: "Response
            # read out of order" killed the trigger runner with asyncio.to_thread).
            client = await sync_to_async(self._client)()
            while True:
                pending = [key for key in self.keys if key not in found or key in differs]
                await asyncio.to_thread(self._read_round, client, pending, found, differs)
                dropped = dropped_in(differs)
                if dropped:  # HubSpot never sets a property it dropped: waiting cannot help
                    yield self._event(
                        "error", found, fatal=True, message=failure_message(dropped, self.sampled)
                    )
                    return
                missing = [key for key in self.keys if key not in found]
                if not missing and not differs:
                    yield self._event("success", found)
                    return
                self.log.info(
                    "%d of %d event(s) not readable yet, %d differ from what was sent",
                    len(missing),
                    len(self.keys),
                    len(differs),
                )
                if time.time() + self.poke_interval > self.end_at:
                    more = {"differs": still_differ_message(differs, self.sampled)} if differs else {}
                    yield self._event("timeout", found, missing=[list(key) for key in missing], **more)
                    return
                await asyncio.sleep(self.poke_interval)
        except HubSpotError as exc:  # the same split as poke mode's fail_task_on_permanent_errors
            yield self._event("error", found, fatal=is_permanent(exc), message=str(exc))
        finally:
            if client is not None:
                client.close()
