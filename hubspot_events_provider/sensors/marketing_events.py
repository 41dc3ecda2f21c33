"""Sensor that waits until upserted Marketing Events are readable in HubSpot.

HubSpot says events become searchable "a few minutes after creation". :class:`MarketingEventsSensor`
reads a handful of events by their external ids (given, or a deterministic sample of an upsert's
results file) until every one answers, and returns their object ids to XCom. With a results file it
also verifies, field by field, that HubSpot holds what was sent (HubSpot silently drops custom
properties the account does not define): :mod:`hubspot_events_provider.core.kinds.events.readback`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
)

from hubspot_events_provider._storage import dag_folder, read_json_lines
from hubspot_events_provider.core.errors import (
    HubSpotNotFoundError,
    InputError,
)
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.kinds.events.readback import (
    Mismatch,
    compare_event,
    dropped_in,
    failure_message,
    sent_of,
    still_differ_message,
    summarize,
)
from hubspot_events_provider.hooks.failures import fail_task_on_permanent_errors
from hubspot_events_provider.hooks.hubspot import HubSpotHook
from hubspot_events_provider.sensors._sampling import resolve_deferrable, seeded_sample
from hubspot_events_provider.sensors.attendance import MarketingEventAttendanceSensor
from hubspot_events_provider.triggers.marketing_events import MarketingEventsTrigger

__all__ = ["MarketingEventAttendanceSensor", "MarketingEventsSensor"]

EventKey = tuple[str, str]
"""``(externalAccountId, externalEventId)``."""

_MAX_IDS_IN_MESSAGE = 50


def _key_of(item: Any, where: str) -> EventKey:
    """Read ``(externalAccountId, externalEventId)`` from a dict or an ``(account, id)`` pair."""
    if isinstance(item, Mapping):
        account, event = item.get("externalAccountId"), item.get("externalEventId")
    elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
        account, event = item
    else:
        account = event = None
    if not isinstance(account, str | int) or not isinstance(event, str | int) or "" in (account, event):
        raise AirflowFailException(
            f"{where}: expected {{'externalAccountId': ..., 'externalEventId': ...}} or an "
            f"(externalAccountId, externalEventId) pair, got {item!r}"
        )
    return str(account), str(event)


def _format_keys(keys: Sequence[EventKey]) -> str:
    shown = ", ".join(f"{account}/{event}" for account, event in keys[:_MAX_IDS_IN_MESSAGE])
    more = len(keys) - _MAX_IDS_IN_MESSAGE
    return shown + (f" and {more} more" if more > 0 else "")


class MarketingEventsSensor(BaseSensorOperator):
    """Wait until Marketing Events are readable in HubSpot; return their object ids.

    Give the events either as ``external_ids`` (every one is checked) or as ``results_path``, the
    upsert's results file (JSON Lines, one ``{"position", "externalAccountId", "externalEventId",
    "objectId"}`` per upserted event, ``.gz`` allowed), from which ``sample_size`` events are drawn by
    seeded reservoir sampling: the same file and seed give the same sample, so a 100k-event run costs
    ``sample_size`` reads per poke, not 100k. An empty results file (nothing upserted) has nothing to
    wait for and succeeds at once.

    Each poke reads every event not yet found with ``GET /events/{externalEventId}`` through the
    hook's client (its rate limiter and retries). A 404 means "not readable yet". Auth and scope
    errors fail the task at once (:class:`AirflowFailException`); other HubSpot errors propagate
    (Airflow retries apply). Found events are remembered between pokes in ``mode="poke"``; in
    ``mode="reschedule"`` (recommended for long waits) each try re-reads the small sample.

    With ``verify_fields`` (the default) and a results file, each sampled event's stored values are
    compared with what the upsert sent (the results file records it as ``sent``), field by field and
    normalised the same way on both sides (date-times as instants, booleans, custom property values):
    green means every sampled field is in HubSpot as sent. A custom property HubSpot dropped (it
    drops properties the account does not define, answering success) fails the task at once,
    naming the event and the property. Another field that differs is read again at the next poke
    (a read may briefly show an older version) and fails the task at ``timeout``, naming the event,
    the field and both values. The comparison uses the read that finds the event: reads stay
    bounded by ``sample_size``. Events given as ``external_ids`` are only waited for (nothing
    recorded what was sent).

    XCom return value: ``{"found": [{"externalAccountId", "externalEventId", "objectId"}, ...],
    "object_ids": [...], "checked": n, "sampled_from": rows in the results file or None,
    "verified": events compared field by field}``.
    At ``timeout`` it raises :class:`AirflowSensorTimeout` naming the ids still missing.

    :param external_ids: events to wait for (templated): a list of ``{"externalAccountId",
        "externalEventId"}`` dicts or ``(externalAccountId, externalEventId)`` pairs, or its JSON text.
    :param results_path: the upsert's results file, or a list of them for a mapped upsert
        (templated), e.g. ``"{{ ti.xcom_pull('upsert')['results_path'] }}"``.
    :param sample_size: how many events to draw from ``results_path``.
    :param sample_seed: seed of the sample.
    :param hubspot_conn_id: the HubSpot Airflow Connection (templated).
    :param verify_fields: compare the sampled events' stored fields with what was sent (default
        on); ``False`` only waits until they are readable.
    :param deferrable: poke once, then hand the wait to Airflow's triggerer
        (:class:`~hubspot_events_provider.triggers.marketing_events.MarketingEventsTrigger`), which frees
        the worker slot; same outcomes and messages as poke mode. Defaults to ``[operators]
        default_deferrable``. The triggerer needs this provider installed.
    :param kwargs: :class:`BaseSensorOperator` arguments; ``poke_interval`` defaults to 30 s and
        ``timeout`` to 30 minutes.
    """

    template_fields: Sequence[str] = ("external_ids", "results_path", "hubspot_conn_id")
    template_fields_renderers = {"external_ids": "json"}
    ui_color = "#ffe9c2"

    def __init__(
        self,
        *,
        external_ids: Any = None,
        results_path: str | Sequence[str] | None = None,
        sample_size: int = 20,
        sample_seed: int = 0,
        hubspot_conn_id: str = HubSpotHook.default_conn_name,
        verify_fields: bool = True,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 30)
        kwargs.setdefault("timeout", 30 * 60)
        super().__init__(**kwargs)
        if (external_ids is None) == (results_path is None):
            raise ValueError("give exactly one of external_ids or results_path")
        if isinstance(sample_size, bool) or not isinstance(sample_size, int) or sample_size < 1:
            raise ValueError(f"sample_size must be an integer >= 1, got {sample_size!r}")
        self.external_ids = external_ids
        self.results_path = results_path
        self.sample_size = sample_size
        self.sample_seed = sample_seed
        self.hubspot_conn_id = hubspot_conn_id
        self.verify_fields = verify_fields
        self.deferrable = resolve_deferrable(deferrable)
        self._targets: list[EventKey] | None = None
        self._sent: dict[EventKey, Mapping[str, Any]] = {}
        self._differs: dict[EventKey, list[Mismatch]] = {}
        self._verified: int | None = None
        self._sampled_from: int | None = None
        self._found: dict[EventKey, str] = {}
        self._missing: list[EventKey] = []

    @cached_property
    def client(self) -> HubSpotClient:
        """The hook's client (one per task try)."""
        return HubSpotHook(hubspot_conn_id=self.hubspot_conn_id).get_conn()

    # -- targets ----------------------------------------------------------------------------------

    def _given_ids(self) -> list[EventKey]:
        value = self.external_ids
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise AirflowFailException(f"external_ids is not valid JSON: {value[:200]!r}") from exc
        if isinstance(value, Mapping) or not isinstance(value, Sequence):
            raise AirflowFailException(f"external_ids must be a list of events, got {type(value).__name__}")
        return [_key_of(item, f"external_ids[{index}]") for index, item in enumerate(value)]

    def _lines(self, paths: Sequence[str]) -> Iterator[tuple[EventKey, Mapping[str, Any] | None]]:
        """Every event of the results files and what was sent for it, read with the core's JSON
        Lines reader (shared storage)."""
        folder = dag_folder(self)
        for path in paths:
            try:
                for row in read_json_lines(path, dag_folder=folder):
                    yield _key_of(row.data, f"{path}, line {row.line}"), sent_of(row.data)
            except InputError as exc:  # unreadable, bad gzip / UTF-8 / JSON, with the line number
                raise AirflowFailException(f"cannot read the upsert results file: {exc}") from exc

    def _sampled_ids(self) -> list[EventKey]:
        paths = [self.results_path] if isinstance(self.results_path, str) else list(self.results_path or [])
        # Only the sample's sent values are kept: memory stays bounded by sample_size.
        sample, self._sampled_from = seeded_sample(self._lines(paths), self.sample_size, self.sample_seed)
        self._sent = {key: sent for key, sent in sample if sent is not None}
        return [key for key, _ in sample]

    def targets(self) -> list[EventKey]:
        """The events to wait for, drawn once per task try (deterministic across tries)."""
        if self._targets is None:
            keys = self._given_ids() if self.external_ids is not None else self._sampled_ids()
            self._targets = list(dict.fromkeys(keys))
            self.log.info(
                "Waiting for %d event(s) to be readable in HubSpot%s",
                len(self._targets),
                f" (sampled from {self._sampled_from} upserted)" if self._sampled_from is not None else "",
            )
        return self._targets

    # -- poke -------------------------------------------------------------------------------------

    def _read(self, key: EventKey) -> Mapping[str, Any] | None:
        """The event as HubSpot holds it, or ``None`` when it is not readable yet."""
        account, event = key
        with fail_task_on_permanent_errors():  # a wrong token or scope: no Airflow retries
            try:
                body: Mapping[str, Any] = self.client.get_event(event, account)
            except HubSpotNotFoundError:
                return None
        return body

    def _verify(self, key: EventKey, stored: Mapping[str, Any]) -> None:
        """Compare one read event with what was sent; remember what differs."""
        sent = self._sent.get(key)
        mismatches = compare_event(sent, stored) if self.verify_fields and sent is not None else []
        if mismatches:
            self._differs[key] = mismatches
        else:
            self._differs.pop(key, None)

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """Read each event not found (or not matching) yet; done when all are readable as sent."""
        targets = self.targets()
        self._read_missing()
        if self._missing:
            self.log.info(
                "%d of %d event(s) not readable yet: %s",
                len(self._missing),
                len(targets),
                _format_keys(self._missing),
            )
            return False
        if self._differs:
            self.log.info(
                "%d of %d event(s) differ from what was sent (read again at the next poke): %s",
                len(self._differs),
                len(targets),
                summarize(self._differs, len(targets)),
            )
            return False
        return self._done()

    def _read_missing(self) -> None:
        """Read each target not found (or not as sent) yet and compare it with what was sent;
        ``_missing`` lists those still not readable. A dropped custom property fails at once."""
        targets = self.targets()
        for key in targets:
            if key not in self._found or key in self._differs:
                stored = self._read(key)
                if stored is not None:
                    object_id = stored.get("objectId") or stored.get("id")
                    self._found[key] = str(object_id) if object_id is not None else ""
                    self._verify(key, stored)
        dropped = dropped_in(self._differs)
        if dropped:  # HubSpot never sets a property it dropped: waiting cannot help
            raise AirflowFailException(failure_message(dropped, len(targets)))
        self._missing = [key for key in targets if key not in self._found]

    def _done(self) -> PokeReturnValue:
        """The XCom value once every target is found."""
        targets = self.targets()
        found = [
            {
                "externalAccountId": account,
                "externalEventId": event,
                "objectId": self._found[(account, event)],
            }
            for account, event in targets
        ]
        return PokeReturnValue(
            is_done=True,
            xcom_value={
                "found": found,
                "object_ids": [item["objectId"] for item in found],
                "checked": len(targets),
                "sampled_from": self._sampled_from,
                "verified": self._verified_count(),
            },
        )

    def _verified_count(self) -> int:
        """How many sampled events are compared field by field (given by the deferral, once resumed)."""
        if self._verified is not None:
            return self._verified
        return sum(1 for key in self.targets() if key in self._sent) if self.verify_fields else 0

    def execute(self, context: Any) -> Any:
        """Poke until done; at timeout, fail naming the events still missing."""
        if self.deferrable:
            return self._execute_deferrable(context)
        try:
            return super().execute(context)
        except AirflowSensorTimeout as exc:
            missing = self._missing
            if not missing and self._differs:
                raise AirflowSensorTimeout(
                    f"{exc} {still_differ_message(self._differs, len(self._targets or []))}"
                ) from exc
            raise AirflowSensorTimeout(
                f"{exc} {len(missing)} of {len(self._targets or [])} event(s) are still not readable in "
                f"HubSpot (externalAccountId/externalEventId): {_format_keys(missing)}"
            ) from exc

    # -- deferrable -------------------------------------------------------------------------------

    def _execute_deferrable(self, context: Any) -> Any:
        """Poke once; if events are missing, defer to the trigger with only their keys."""
        result = self.poke(context)
        if isinstance(result, PokeReturnValue):
            return result.xcom_value
        end_at = time.time() + float(self.timeout)
        # The trigger reads what is missing or differs, and compares as poke() does.
        pending = [key for key in self.targets() if key in self._missing or key in self._differs]
        sent = [[a, e, dict(self._sent[(a, e)])] for a, e in pending if (a, e) in self._sent]
        self.defer(
            trigger=MarketingEventsTrigger(
                hubspot_conn_id=self.hubspot_conn_id,
                keys=[list(key) for key in pending],
                poke_interval=float(self.poke_interval),
                end_at=end_at,
                sent=sent if self.verify_fields else [],
                sampled=len(self.targets()),
            ),
            method_name="execute_complete",
            kwargs={
                "targets": [list(key) for key in self.targets()],
                "found": [[a, e, object_id] for (a, e), object_id in self._found.items()],
                "sampled_from": self._sampled_from,
                "verified": self._verified_count(),
            },
            # The trigger ends itself at end_at with the missing ids; this is only a backstop.
            timeout=timedelta(seconds=float(self.timeout) + max(60.0, 2 * float(self.poke_interval))),
        )

    def execute_complete(
        self,
        context: Any,
        event: Mapping[str, Any] | None = None,
        targets: Sequence[Sequence[str]] = (),
        found: Sequence[Sequence[str]] = (),
        sampled_from: int | None = None,
        verified: int = 0,
    ) -> Any:
        """Turn the trigger's event into poke mode's outcome: XCom value, timeout, skip or failure."""
        if not isinstance(event, Mapping):
            raise AirflowException(f"the HubSpot trigger fired without an event: {event!r}")
        # Without the kwargs of the deferral (a resumed task whose next_kwargs were lost), draw the
        # targets again: the draw is deterministic, so it gives the same events.
        self._targets = [(str(a), str(e)) for a, e in targets] if targets else None
        self._sampled_from = sampled_from
        self._verified = verified if targets else None  # redrawn: counted again from the draw
        self.targets()
        self._found = {(str(a), str(e)): str(o) for a, e, o in [*found, *event.get("found", [])]}
        self._missing = [key for key in self.targets() if key not in self._found]
        status = event.get("status")
        if status == "success" and self._missing:
            # Found before deferring, but the deferral's kwargs did not come back: read them again.
            self._read_missing()
        if status == "success" and not self._missing:
            return self._done().xcom_value
        if status == "error":
            error = AirflowFailException if event.get("fatal") else AirflowException
            raise error(str(event.get("message")))
        message = (
            f"Sensor has timed out; the trigger waited past the specified timeout of {self.timeout}. "
            f"{len(self._missing)} of {len(self.targets())} event(s) are still not readable in "
            f"HubSpot (externalAccountId/externalEventId): {_format_keys(self._missing)}"
        )
        if not self._missing and event.get("differs"):
            message = (
                f"Sensor has timed out; the trigger waited past the specified timeout of {self.timeout}. "
                f"{event['differs']}"
            )
        if self.soft_fail:
            raise AirflowSkipException(message)
        raise AirflowSensorTimeout(message)
