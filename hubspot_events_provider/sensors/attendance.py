"""Sensor that waits until recorded participations are visible in HubSpot.

HubSpot processes participation writes asynchronously: a breakdown read right after an attendance
request may not show it yet. :class:`MarketingEventAttendanceSensor` draws a seeded sample of the
participations an attendance run recorded (its results file) and reads each one's breakdown
(``GET /participations/{externalAccountId}/{externalEventId}/breakdown?contactIdentifier=``) until
every sampled contact shows the state the run left it in. With ``deferrable=True`` it pokes once,
then hands the wait to
:class:`~hubspot_events_provider.triggers.attendance.MarketingEventAttendanceTrigger`; both modes
check a participation with :func:`~hubspot_events_provider.core.kinds.attendance.readback.read_visible`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.kinds.attendance.fields import STATE_ORDER
from hubspot_events_provider.core.kinds.attendance.readback import (
    VISIBLE_STATES,
    EventUnknownError,
    Participation,
    format_participations,
    not_visible_message,
    read_visible,
)
from hubspot_events_provider.hooks.failures import fail_task_on_permanent_errors
from hubspot_events_provider.hooks.hubspot import HubSpotHook
from hubspot_events_provider.sensors._sampling import resolve_deferrable, seeded_sample
from hubspot_events_provider.triggers.attendance import MarketingEventAttendanceTrigger

__all__ = ["VISIBLE_STATES", "MarketingEventAttendanceSensor", "Participation"]


class MarketingEventAttendanceSensor(BaseSensorOperator):
    """Wait until a sample of recorded participations is visible in HubSpot; return what it shows.

    ``results_path`` is the attendance operator's results file (JSON Lines, ``.gz`` allowed, one
    ``{"position", "externalAccountId", "externalEventId", "contact", "subscriberState",
    "objectId"}`` per recorded row), or a list of them. ``sample_size`` contacts are drawn by seeded
    reservoir sampling (the same file and seed give the same sample); a second pass finds the latest
    state the file recorded for each (``register`` < ``attend`` < ``cancel``). Each poke reads the
    breakdown of every sampled contact not yet seen in that state: a contact with no participation
    yet, or in an earlier state, is "not visible yet" (HubSpot is eventually consistent). An empty
    results file succeeds at once. Auth and scope errors fail the task at once; an event HubSpot
    does not know fails it too (the results file says it was recorded). At ``timeout`` it raises
    :class:`AirflowSensorTimeout` naming the participations still not visible.

    XCom return value: ``{"found": [{"externalAccountId", "externalEventId", "contact",
    "subscriberState", "attendanceState", "contactId"}], "checked": n, "sampled_from": rows}``.

    :param results_path: the attendance run's results file, or a list (templated), e.g.
        ``"{{ ti.xcom_pull('record_attendance')['results_path'] }}"``.
    :param sample_size: how many contacts to check.
    :param sample_seed: seed of the sample.
    :param hubspot_conn_id: the HubSpot Airflow Connection (templated).
    :param deferrable: poke once, then hand the wait to Airflow's triggerer
        (:class:`~hubspot_events_provider.triggers.attendance.MarketingEventAttendanceTrigger`), which
        frees the worker slot; same outcomes and messages as poke mode (both read with
        :func:`~hubspot_events_provider.core.kinds.attendance.readback.read_visible`). Defaults to
        ``[operators] default_deferrable``. The triggerer needs this provider installed.
    :param kwargs: :class:`BaseSensorOperator` arguments; ``poke_interval`` defaults to 30 s and
        ``timeout`` to 30 minutes.
    """

    template_fields: Sequence[str] = ("results_path", "hubspot_conn_id")
    ui_color = "#ffe9c2"

    def __init__(
        self,
        *,
        results_path: str | Sequence[str],
        sample_size: int = 20,
        sample_seed: int = 0,
        hubspot_conn_id: str = HubSpotHook.default_conn_name,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 30)
        kwargs.setdefault("timeout", 30 * 60)
        super().__init__(**kwargs)
        if isinstance(sample_size, bool) or not isinstance(sample_size, int) or sample_size < 1:
            raise ValueError(f"sample_size must be an integer >= 1, got {sample_size!r}")
        self.results_path = results_path
        self.sample_size = sample_size
        self.sample_seed = sample_seed
        self.hubspot_conn_id = hubspot_conn_id
        self.deferrable = resolve_deferrable(deferrable)
        self._targets: list[Participation] | None = None
        self._sampled_from = 0
        self._found: dict[Participation, dict[str, Any]] = {}
        #: Events HubSpot answered 404 for at their last read (named if the wait ends).
        self._unknown: set[tuple[str, str]] = set()
        self._missing: list[Participation] = []

    @cached_property
    def client(self) -> HubSpotClient:
        """The hook's client (one per task try)."""
        return HubSpotHook(hubspot_conn_id=self.hubspot_conn_id).get_conn()

    # -- the sample -------------------------------------------------------------------------------

    def _paths(self) -> list[str]:
        value = self.results_path
        return [value] if isinstance(value, str) else [str(p) for p in value or []]

    def _records(self) -> Iterator[Participation]:
        """Every line of the results files as ``(account, event, contact, state)`` (relative paths
        from the DAG folder; gzip, BOM and line numbers as the shared storage reader gives them)."""
        folder = dag_folder(self)
        for path in self._paths():
            try:
                for row in read_json_lines(path, dag_folder=folder):
                    yield _participation(row.data, f"{path}, line {row.line}")
            except InputError as exc:
                raise AirflowFailException(f"cannot read the attendance results file: {exc}") from exc

    def targets(self) -> list[Participation]:
        """The sampled contacts with their latest recorded state (drawn once per task try)."""
        if self._targets is None:
            sample, seen = seeded_sample(self._records(), self.sample_size, self.sample_seed)
            self._sampled_from = seen
            self._targets = self._latest_states(sample)
            self.log.info(
                "Waiting for %d participation(s) to be visible in HubSpot (sampled from %d recorded rows)",
                len(self._targets),
                seen,
            )
        return self._targets

    def _latest_states(self, sampled: Iterable[Participation]) -> list[Participation]:
        """Each sampled contact once, with the highest-ranked state any line recorded for it."""
        latest: dict[tuple[str, str, str], str] = {p[:3]: p.state for p in sampled}
        if latest:
            for record in self._records():
                held = latest.get(record[:3])
                if held is not None and STATE_ORDER[record.state] > STATE_ORDER[held]:
                    latest[record[:3]] = record.state
        return [Participation(*key, state) for key, state in latest.items()]

    # -- poke -------------------------------------------------------------------------------------

    def _read(self, target: Participation) -> dict[str, Any] | None:
        with fail_task_on_permanent_errors():  # a wrong token or scope: no Airflow retries
            try:
                seen = read_visible(self.client, target)
            except EventUnknownError as exc:  # HubSpot's read lag: not visible yet
                self._unknown.add(exc.event)
                return None
        self._unknown.discard((target.account, target.event))
        return seen

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """Read each sampled participation not seen yet; done when all are visible."""
        targets = self.targets()
        for target in targets:
            if target not in self._found and (seen := self._read(target)) is not None:
                self._found[target] = seen
        self._missing = [t for t in targets if t not in self._found]
        if self._missing:
            self.log.info(
                "%d of %d participation(s) not visible yet: %s",
                len(self._missing),
                len(targets),
                format_participations(self._missing),
            )
            return False
        return self._done()

    def _done(self) -> PokeReturnValue:
        """The XCom value once every sampled participation is visible."""
        targets = self.targets()
        return PokeReturnValue(
            is_done=True,
            xcom_value={
                "found": [self._found[t] for t in targets],
                "checked": len(targets),
                "sampled_from": self._sampled_from,
            },
        )

    def execute(self, context: Any) -> Any:
        """Poke until done; at timeout, fail naming the participations still not visible."""
        if self.deferrable:
            return self._execute_deferrable(context)
        try:
            return super().execute(context)
        except AirflowSensorTimeout as exc:
            raise AirflowSensorTimeout(
                f"{exc} {not_visible_message(self._missing, len(self._targets or []), self._unknown)}"
            ) from exc

    # -- deferrable -------------------------------------------------------------------------------

    def _execute_deferrable(self, context: Any) -> Any:
        """Poke once; if participations are not visible yet, defer with only their keys and states."""
        result = self.poke(context)
        if isinstance(result, PokeReturnValue):
            return result.xcom_value
        self.defer(
            trigger=MarketingEventAttendanceTrigger(
                hubspot_conn_id=self.hubspot_conn_id,
                keys=[list(target) for target in self._missing],
                poke_interval=float(self.poke_interval),
                end_at=time.time() + float(self.timeout),
                sampled=len(self.targets()),
            ),
            method_name="execute_complete",
            kwargs={
                "targets": [list(target) for target in self.targets()],
                "found": list(self._found.values()),
                "sampled_from": self._sampled_from,
            },
            # The trigger ends itself at end_at naming what is missing; this is only a backstop.
            timeout=timedelta(seconds=float(self.timeout) + max(60.0, 2 * float(self.poke_interval))),
        )

    def execute_complete(
        self,
        context: Any,
        event: Mapping[str, Any] | None = None,
        targets: Sequence[Sequence[str]] = (),
        found: Sequence[Mapping[str, Any]] = (),
        sampled_from: int | None = None,
    ) -> Any:
        """Turn the trigger's event into poke mode's outcome: XCom value, timeout, skip or failure."""
        if not isinstance(event, Mapping):
            raise AirflowException(f"the HubSpot trigger fired without an event: {event!r}")
        if targets:
            self._targets = [Participation(*(str(part) for part in key)) for key in targets]
            self._sampled_from = int(sampled_from or 0)
        # Without the deferral's kwargs (lost on resume), the draw is deterministic: draw again.
        targets_now = self.targets()
        for seen in [*found, *event.get("found", [])]:
            self._found[Participation(*(str(seen[n]) for n in _FOUND_KEY))] = dict(seen)
        self._missing = [t for t in targets_now if t not in self._found]
        status = event.get("status")
        if status == "success" and self._missing:  # found before deferring, kwargs lost: read again
            self.poke(context)
        if status == "success" and not self._missing:
            return self._done().xcom_value
        if status == "error":
            error = AirflowFailException if event.get("fatal") else AirflowException
            raise error(str(event.get("message")))
        message = (
            f"Sensor has timed out; the trigger waited past the specified timeout of {self.timeout}. "
            f"{not_visible_message(self._missing, len(targets_now), _events(event.get('unknown')))}"
        )
        if self.soft_fail:
            raise AirflowSkipException(message)
        raise AirflowSensorTimeout(message)


#: The keys of a found participation (poke mode's XCom item) that name its :class:`Participation`.
_FOUND_KEY = ("externalAccountId", "externalEventId", "contact", "subscriberState")


def _participation(record: Any, where: str) -> Participation:
    """One results-file line as a :class:`Participation`; a malformed line fails the task."""
    if isinstance(record, Mapping):
        values = [
            record.get(n) for n in ("externalAccountId", "externalEventId", "contact", "subscriberState")
        ]
        account, event, contact, state = values
        if (
            all(isinstance(v, str) and v for v in values)
            and str(contact).partition(":")[0] in ("email", "vid")
            and state in STATE_ORDER
        ):
            return Participation(str(account), str(event), str(contact), str(state))
    raise AirflowFailException(
        f"{where}: expected an attendance results line with externalAccountId, externalEventId, "
        f"contact ('email:...' or 'vid:...') and subscriberState, got {record!r}"
    )


def _events(unknown: Any) -> set[tuple[str, str]]:
    """The trigger event's ``unknown`` (lists of account and event) as a set of pairs."""
    return {(str(pair[0]), str(pair[1])) for pair in unknown or ()}
