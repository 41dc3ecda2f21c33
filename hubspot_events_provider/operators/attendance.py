"""``RecordMarketingEventAttendanceOperator``: registrations, attendance and cancellations from XCom, a
file or SQL, recorded as HubSpot marketing-event participations.

A thin adapter over :func:`hubspot_events_provider.core.kinds.attendance.kind.run_attendance` (the write
pipeline with the attendance kind); inputs, templated paths, report files and secrets are the
shared :class:`~hubspot_events_provider.operators._rowwrite.RowWriteOperator`'s. With
``complete_events=True`` every event that received attendance in the run is then completed
(``POST /events/{externalEventId}/complete`` with the start and end HubSpot holds for it), which makes
HubSpot compute attendance durations; each completion's outcome is in the summary.

Like the upsert it is Airflow-native through :class:`~hubspot_events_provider.lineage.HubSpotNativeMixin`:
OpenLineage facets (inputs: the SQL's tables or the file; output ``hubspot://<portalId>`` /
``marketing-event-participations`` with the recorded count, schema and column lineage), counts on
the asset event of a ``hubspot://<portalId>/marketing-event-participations`` outlet, extra links.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

from hubspot_events_provider._storage import dag_folder
from hubspot_events_provider.assets import PARTICIPATIONS
from hubspot_events_provider.core.engine.contract import RowHooks
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.kinds.attendance.api import complete_as_held
from hubspot_events_provider.core.kinds.attendance.kind import ATTENDANCE_KEY_FIELDS, run_attendance
from hubspot_events_provider.core.kinds.attendance.mapper import (
    CONTACT_PROPERTIES,
    AttendanceMapper,
)
from hubspot_events_provider.core.rows.identity import WriteItem
from hubspot_events_provider.core.sync import statedb
from hubspot_events_provider.core.sync.rowstate import run_attendance_sync
from hubspot_events_provider.lineage import ATTENDANCE_SCHEMA, HubSpotNativeMixin
from hubspot_events_provider.operators._rowwrite import RowWriteOperator, WriteCall
from hubspot_events_provider.operators._sync import open_state, run_owner
from hubspot_events_provider.operators._templating import Templated, row_renderers, row_template_fields

__all__ = ["COMPLETE_READ_LAG_WAIT_S", "MAX_COMPLETIONS_LISTED", "RecordMarketingEventAttendanceOperator"]

#: How long (seconds, all events together) ``complete_events`` waits for events HubSpot does not
#: return yet: it makes an event readable some minutes after it is written.
COMPLETE_READ_LAG_WAIT_S = 120.0

#: At most this many completion outcomes are listed in the summary (the counts cover every one).
MAX_COMPLETIONS_LISTED = 50


class RecordMarketingEventAttendanceOperator(HubSpotNativeMixin, RowWriteOperator):
    """Record marketing-event participations (register, attend, cancel); report every row not recorded.

    Give exactly one input: ``attendance``, ``attendance_file`` or ``sql``. After mapping, a row has
    ``externalAccountId``, ``externalEventId``, ``subscriberState`` (``register``/``attend``/``cancel``
    in any case, or ``REGISTERED``/``ATTENDED``/``CANCELLED``), exactly one of ``email`` or ``vid``,
    ``interactionDateTime`` and, for ``attend`` only, ``joinedAt``/``leftAt``. A NULL or empty value
    is the same as an absent column. Rows are grouped into requests by (account, event, state, email
    or vid), ``register`` before ``attend`` before ``cancel``; the last row of the same (event,
    contact, state) wins, the others are ``superseded``.

    The summary has the upsert summary's keys and invariant (``upserted`` counts recorded
    participations), so ``MarketingEventsUpsertCheckOperator`` gates it unchanged; with
    ``complete_events`` it also holds ``completions`` (counts by status and the first outcomes).

    After a run that sent something, the operator reads the account details once (the portal id)
    for its OpenLineage output ``hubspot://<portalId>`` / ``marketing-event-participations`` (row
    count: the recorded participations), its extra links, and the counts it puts on the asset event
    of a ``hubspot://<portalId>/marketing-event-participations`` outlet.

    The input, sending and report parameters every row-writing operator shares (``file_format``,
    ``delimiter``, ``encoding``, ``sql``, ``sql_conn_id``, ``parameters``, ``fetch_size``,
    ``batch_size``, ``max_in_flight``, ``dry_run``, ``allow_empty``, ``rejected_path``,
    ``results_path``, ``payloads_path``, ``hubspot_conn_id``, ``hook_params``,
    ``progress_interval``) are documented on
    :class:`~hubspot_events_provider.operators._rowwrite.RowWriteOperator`; what some of them hold
    here is below.

    :param attendance: rows as a list of dicts, an ``XComArg``, a JSON (array or JSON Lines) string,
        or a ``.json``/``.jsonl`` template file next to the DAG. (templated)
    :param attendance_file: a path or object-storage URI of a JSON array, JSON Lines or CSV file,
        optionally gzip-compressed; streamed. A relative path is resolved against the DAG's folder.
        (templated)
    :param field_map: source key -> attendance field, e.g. ``{"webinar_id": "externalEventId"}``.
        (templated)
    :param defaults: values for fields a row lacks, e.g. ``{"externalAccountId": "acme-zoom"}``.
        (templated)
    :param contact_properties: source keys sent as ``contactProperties`` (applied by HubSpot only
        when ``email-create`` creates the contact): a list, or a mapping source key -> property name.
        (templated)
    :param timezone: IANA time zone for naive datetimes (default ``UTC``).
    :param ignore_fields: source keys to leave out on purpose; any other unmapped key is refused
        before anything is sent.
    :param ignore_unmapped: leave out every unmapped key.
    :param batch_size: participations per request, 1 to 100.
    :param max_in_flight: requests in flight at once; the phases register, attend, cancel run in order.
    :param dry_run: read, map, validate and report; send nothing (and complete nothing).
    :param results_path: optional; one JSON line per recorded participation: its position,
        ``externalAccountId``, ``externalEventId``, ``contact`` (``email:<address>`` or
        ``vid:<id>``), ``subscriberState`` and ``objectId`` (the HubSpot contact id). (templated)
    :param complete_events: after recording, complete every event that received attendance in the
        run, with its start and end as HubSpot holds them (with ``state_path``: the events of the
        participations sent this run).
    :param state_path: a sync state of participations (a local path, relative ones from the DAG's
        folder, or an object-storage URI): per (account, event, contact, state), the digest of what
        HubSpot last confirmed (the times and properties sent). Unchanged rows are not sent (summary
        ``unchanged``), changed and refused ones are. A missing state means a full send; a corrupt
        one fails the task unless ``full_refresh``; the upsert's state is refused (give attendance a
        state of its own). One state per task: two runs sharing it at once are refused. (templated)
    :param full_refresh: ignore the sync state (even a corrupt one), send every row, rewrite it.
    """

    rows_field = "attendance"
    key_fields = ATTENDANCE_KEY_FIELDS
    action = "Recording marketing-event participations"
    unit = "participation(s)"
    done = "recorded"
    summary_label = "attendance"
    # What HubSpotNativeMixin reports: participations, their fields, contact_properties' lineage.
    hubspot_object = PARTICIPATIONS
    hubspot_schema = ATTENDANCE_SCHEMA
    property_parameters: ClassVar[Mapping[str, str]] = {"contact_properties": CONTACT_PROPERTIES}

    template_fields: Sequence[str] = (
        *row_template_fields("attendance", "field_map", "contact_properties", "defaults"),
        "state_path",
    )
    template_fields_renderers = row_renderers("attendance")
    ui_color = "#ff7a59"

    def __init__(
        self,
        *,
        attendance: Any = None,
        attendance_file: str | None = None,
        field_map: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        contact_properties: Sequence[str] | Mapping[str, str] | None = None,
        timezone: str = "UTC",
        ignore_fields: Sequence[str] | None = None,
        ignore_unmapped: bool = False,
        complete_events: bool = False,
        state_path: str | None = None,
        full_refresh: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.keep_input(attendance, attendance_file)
        self.field_map = field_map
        self.contact_properties = contact_properties
        self.defaults = defaults
        self.timezone = timezone
        self.ignore_fields = list(ignore_fields or [])
        self.ignore_unmapped = ignore_unmapped
        self.check_mapper()
        self.complete_events = complete_events
        if full_refresh and not state_path:
            raise ValueError("full_refresh needs a state_path: it rebuilds the sync state.")
        self.state_path = state_path
        self.full_refresh = full_refresh
        self._state_owner = self.task_id

    def build_mapper(self, templated: Templated) -> AttendanceMapper:
        return AttendanceMapper(
            field_map=templated(self.field_map),
            contact_properties=templated(self.contact_properties),
            defaults=templated(self.defaults),
            timezone=self.timezone,
            ignore_fields=self.ignore_fields,
            ignore_unmapped=self.ignore_unmapped,
        )

    @classmethod
    def path_fields(cls) -> tuple[str, ...]:
        """The base's templated paths, and ``state_path``."""
        return (*super().path_fields(), "state_path")

    def execute(self, context: Any) -> dict[str, Any]:
        self._state_owner = run_owner(context, self.task_id)  # names this run in the state's lock
        return super().execute(context)

    def write(self, call: WriteCall) -> Mapping[str, Any]:
        rows, mapper, report, options, sending = call
        touched: set[tuple[str, str]] = set()

        def confirmed(item: WriteItem, _object_id: str | None) -> None:
            touched.add((str(item.key[0]), str(item.key[1])))

        attendance = cast("AttendanceMapper", mapper)  # the one make_mapper() built
        extra: dict[str, Any] = {}
        if self.state_path:
            state = open_state(
                str(self.state_path),
                dag_folder=dag_folder(self),
                full_refresh=self.full_refresh,
                owner=self._state_owner,
                shape=statedb.PARTICIPATIONS,
            )
            extra["sync"] = run_attendance_sync(
                rows,
                attendance,
                sending.client,
                report,
                options=options,
                state=state,
                log=self.log,
                stats=sending.stats,
                headroom=sending.headroom,
                on_confirmed=confirmed,
            )
        else:
            extras = self.run_extras(sending)
            extras["hooks"] = RowHooks(confirmed=confirmed)
            run_attendance(rows, attendance, sending.client, report, options=options, **extras)
        if self.complete_events and sending.client is not None:
            extra["completions"] = self._complete(sending.client, sorted(touched))
        self.read_account(sending.client)  # lineage namespace and UI link; after the summary's counters
        return extra

    def on_summary(self, context: Any, summary: Mapping[str, Any]) -> None:
        sync = summary.get("sync")
        if sync is not None:
            self.log.info("Sync state %s: %s", sync["state_path"], sync["message"])
        self.record_run(context, summary)  # asset events, links, OpenLineage

    def _complete(self, client: HubSpotClient, events: list[tuple[str, str]]) -> dict[str, Any]:
        """Complete each event (one call each, in order); a refusal is an outcome, not a failure.

        An event written moments ago may not be readable yet (HubSpot's read lag): the reads wait
        for it up to :data:`COMPLETE_READ_LAG_WAIT_S` in all.
        """
        until = time.monotonic() + COMPLETE_READ_LAG_WAIT_S
        outcomes = [
            complete_as_held(client, account, event, until=until).as_dict() for account, event in events
        ]
        by_status = Counter(o["status"] for o in outcomes)
        for outcome in outcomes:
            if outcome["status"] == "completed":
                self.log.info(
                    "Completed event %s/%s (%s to %s): HubSpot computes attendance durations.",
                    outcome["externalAccountId"],
                    outcome["externalEventId"],
                    outcome["startDateTime"],
                    outcome["endDateTime"],
                )
            else:
                self.log.warning(
                    "Event %s/%s not completed (%s): %s",
                    outcome["externalAccountId"],
                    outcome["externalEventId"],
                    outcome["status"],
                    outcome["reason"],
                )
        return {
            "events": len(outcomes),
            "completed": by_status["completed"],
            "skipped": by_status["skipped"],
            "failed": by_status["failed"],
            "outcomes": outcomes[:MAX_COMPLETIONS_LISTED],
        }
