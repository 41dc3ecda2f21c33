"""``UpsertMarketingEventsOperator``: rows from XCom, a file or SQL, batch-upserted into HubSpot.

The operator is a thin adapter: it renders its parameters, opens the one input it was given
(``events``, ``events_file`` or ``sql``), builds the HubSpot client from the Airflow Connection and
hands everything to :func:`hubspot_events_provider.core.kinds.events.kind.run_upsert`; the inputs, paths,
report files and failure handling are the shared
:class:`~hubspot_events_provider.operators._rowwrite.RowWriteOperator`'s. The return value
(pushed to XCom) is a small summary whose size does not depend on the input; every row that was not
upserted is in the rejected file (JSON Lines), with its position, stage, category and reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from hubspot_events_provider._storage import dag_folder
from hubspot_events_provider.core.engine.contract import RowMapper
from hubspot_events_provider.core.engine.report import UpsertReport
from hubspot_events_provider.core.engine.run import WriteOptions
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.kinds.events.keys import EVENT_KEY_FIELDS
from hubspot_events_provider.core.kinds.events.kind import run_upsert
from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.kinds.events.preflight import check_required_sources
from hubspot_events_provider.core.rows.sources import SourceRow
from hubspot_events_provider.core.sync.reconcile import Reconciler, run_reconciled
from hubspot_events_provider.core.sync.run import SyncOptions, run_sync
from hubspot_events_provider.lineage import HubSpotNativeMixin
from hubspot_events_provider.operators._budget import Sending
from hubspot_events_provider.operators._rowwrite import RowWriteOperator, WriteCall
from hubspot_events_provider.operators._sync import open_state, run_owner, state_errors_fail_task
from hubspot_events_provider.operators._templating import Templated, row_renderers, row_template_fields

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

__all__ = ["UpsertMarketingEventsOperator"]


class UpsertMarketingEventsOperator(HubSpotNativeMixin, RowWriteOperator):
    """Batch-upsert HubSpot Marketing Events; report every row that was not upserted.

    Give exactly one input: ``events``, ``events_file`` or ``sql``. The input, sending and report
    parameters every row-writing operator shares (``file_format``, ``delimiter``, ``encoding``,
    ``sql``, ``sql_conn_id``, ``parameters``, ``fetch_size``, ``batch_size``, ``max_in_flight``,
    ``dry_run``, ``allow_empty``, ``rejected_path``, ``results_path``, ``payloads_path``,
    ``hubspot_conn_id``, ``hook_params``, ``progress_interval``) are documented on
    :class:`~hubspot_events_provider.operators._rowwrite.RowWriteOperator`; what some of them hold
    here is below.

    :param events: events as a list of dicts, an ``XComArg``, a JSON (array or JSON Lines) string,
        or a ``.json``/``.jsonl`` template file next to the DAG that Jinja renders. (templated)
    :param events_file: a path or object-storage URI (``file://``, ``s3://``, ``gs://``...) of a JSON
        array, JSON Lines/NDJSON or CSV file, optionally gzip-compressed; streamed, never loaded
        whole. A relative path is resolved against the DAG's folder. (templated)
    :param field_map: source key -> HubSpot field, e.g. ``{"id": "externalEventId"}``; keys that
        already are HubSpot field names need no entry. (templated)
    :param custom_properties: source keys sent as ``customProperties`` ``{name, value}``: a list
        (property name = key) or a mapping source key -> HubSpot property name. (templated)
    :param defaults: values for fields a row lacks, e.g. ``{"externalAccountId": "acme"}``. (templated)
    :param timezone: IANA time zone for naive datetimes (default ``UTC``).
    :param date_format: an optional ``strptime`` format tried first for date/time strings, e.g.
        ``"%d/%m/%Y %H:%M"`` for day-first dates; ISO 8601 and epoch values still work.
    :param ignore_fields: source keys to leave out on purpose. Any other key that maps to no
        HubSpot field is refused before anything is sent.
    :param ignore_unmapped: leave out every unmapped key (opt out of that check wholesale).
    :param batch_size: events per request, 1 to 100 (HubSpot's batch limit).
    :param results_path: optional; one JSON line per upserted event with its external ids and
        HubSpot object id. (templated)
    :param payloads_path: dry runs only: every payload that would be sent (of duplicates the last one
        is sent; the others are in the rejected file as superseded). (templated)
    :param overlap: send full batches while the input is still being read (0.91-0.93 of HubSpot's
        rate instead of 0.85-0.88 on large inputs; while the first request is unanswered the next
        full batches wait, so an input read within a round trip is read whole first). CSV and SQL
        inputs still refuse an unmapped column, or a required field no column fills, before anything
        is sent; a malformed line (JSON
        or CSV) or, for JSON/XCom inputs, a key no earlier row had stops the run naming the line, with
        the batches already sent in HubSpot and in the (partial) results file; a rerun of the fixed
        input is idempotent. A row sent before a later duplicate of its event is reported
        ``upserted`` (the later row still wins in HubSpot). Ignored with ``state_path`` and on dry
        runs. Default ``True``; ``False`` reads and validates everything first.
    :param state_path: a sync state (a local path, relative ones from the DAG's folder, or an
        object-storage URI): per event, the digest of the payload HubSpot last confirmed. Rows that
        did not change are not sent (summary ``unchanged``), rows that failed are sent again, and
        ``eventCompleted`` rows get ``/complete`` once. A missing state means a full send; a corrupt
        one fails the task unless ``full_refresh``. One state per task: two runs sharing it at once
        are refused. (templated)
    :param full_refresh: ignore the sync state (even a corrupt one), send every row, rewrite it.
    :param on_missing: with ``state_path``: what to do with the events this app created for the
        run's ``externalAccountId`` s that are in the state but no longer in the source: ``ignore``
        (default), ``cancel`` or ``delete``. Other apps' and other accounts' events are never touched;
        an empty source never cancels or deletes anything; a dry run lists what would be.
    :param max_deletes: most events one run may cancel or delete; more stops the run before anything
        is sent (``None``: no count limit).
    :param max_delete_fraction: most events one run may cancel or delete, as a fraction of the known
        events of the run's accounts (default 0.1); more stops the run before anything is sent. With
        the default, fewer than 10 known events can never be deleted: raise it for small tables.
    :param reconcile: read what HubSpot holds for the app's events first (the paged list, 100 per
        request, plus single reads where the list cannot tell) and send only the rows whose HubSpot
        copy differs or is missing; the others are ``unchanged``. Repairs edits and deletes made in
        HubSpot behind the pipeline's back; the summary's ``reconcile`` says what was read, matched,
        differed (with the fields) and missing, and what the reads cost. With ``state_path`` the state
        is rewritten from what HubSpot holds; without one HubSpot is the state. With ``dry_run`` it
        reads and reports the drift and sends nothing.
    """

    rows_field = "events"
    key_fields = EVENT_KEY_FIELDS
    action = "Upserting marketing events"
    unit = "event(s)"
    done = "upserted"
    summary_label = "upsert"

    template_fields: Sequence[str] = (
        *row_template_fields("events", "field_map", "custom_properties", "defaults"),
        "state_path",
    )
    template_fields_renderers = row_renderers("events")
    ui_color = "#ff7a59"

    def __init__(
        self,
        *,
        events: Any = None,
        events_file: str | None = None,
        field_map: Mapping[str, str] | None = None,
        custom_properties: Sequence[str] | Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        timezone: str = "UTC",
        date_format: str | None = None,
        ignore_fields: Sequence[str] | None = None,
        ignore_unmapped: bool = False,
        state_path: str | None = None,
        full_refresh: bool = False,
        on_missing: str = "ignore",
        max_deletes: int | None = None,
        max_delete_fraction: float | None = 0.1,
        overlap: bool = True,
        reconcile: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.keep_input(events, events_file)
        self.field_map = field_map
        self.custom_properties = custom_properties
        self.defaults = defaults
        self.timezone = timezone
        self.date_format = date_format
        self.ignore_fields = list(ignore_fields or [])
        self.ignore_unmapped = ignore_unmapped
        self.check_mapper()
        self.sync_options = _sync_options(
            state_path, full_refresh, on_missing, max_deletes, max_delete_fraction
        )
        self.state_path = state_path
        self.full_refresh = full_refresh
        self.on_missing = on_missing
        self.max_deletes = max_deletes
        self.max_delete_fraction = max_delete_fraction
        self._state_owner = self.task_id
        self.overlap = overlap
        self.reconcile = reconcile

    def build_mapper(self, templated: Templated) -> EventMapper:
        return EventMapper(
            field_map=templated(self.field_map),
            custom_properties=templated(self.custom_properties),
            defaults=templated(self.defaults),
            timezone=self.timezone,
            date_format=self.date_format,
            ignore_fields=self.ignore_fields,
            ignore_unmapped=self.ignore_unmapped,
        )

    @classmethod
    def path_fields(cls) -> tuple[str, ...]:
        """The base's templated paths, and ``state_path``."""
        return (*super().path_fields(), "state_path")

    def reads_on_dry_run(self) -> bool:
        """A reconcile reads HubSpot on dry runs too (to report the drift)."""
        return self.reconcile

    def execute(self, context: Context) -> dict[str, Any]:
        self._state_owner = run_owner(context, self.task_id)  # names this run in the state's lock
        with state_errors_fail_task():  # a tripped delete guardrail: no Airflow retries
            return super().execute(context)

    def prepare_rows(
        self, rows: Iterator[SourceRow], mapper: RowMapper, options: WriteOptions
    ) -> Iterator[SourceRow]:
        """A required field no row can have is one configuration error, not a row error per row."""
        events = cast("EventMapper", mapper)  # the one make_mapper() built
        return check_required_sources(
            rows, events, source=options.source, fixed_columns=self._fixed_columns()
        )

    def write(self, call: WriteCall) -> Mapping[str, Any]:
        rows, mapper, report, options, sending = call
        events = cast("EventMapper", mapper)  # the one make_mapper() built
        extra: dict[str, Any] = {}
        if self.state_path:
            extra.update(self._write_with_state(rows, events, report, options, sending))
        elif self.reconcile:
            client = _required(sending.client)
            extra["reconcile"] = run_reconciled(
                rows, events, client, report, options=options, **self.run_extras(sending)
            )
        else:
            run_upsert(
                rows,
                events,
                sending.client,
                report,
                options=options,
                **self.run_extras(sending),
            )
        self.read_account(sending.client)  # lineage namespace and UI link; after the summary's counters
        return extra

    def _write_with_state(
        self,
        rows: Iterator[SourceRow],
        mapper: EventMapper,
        report: UpsertReport,
        options: WriteOptions,
        sending: Sending,
    ) -> dict[str, Any]:
        """The upsert through the sync state (send only what changed, or with ``reconcile`` what
        HubSpot does not hold; lifecycle; on_missing): the summary's ``sync`` (and ``reconcile``)."""
        state = open_state(
            str(self.state_path),
            dag_folder=dag_folder(self),
            full_refresh=self.full_refresh,
            owner=self._state_owner,
        )
        reconciler = None
        if self.reconcile:
            reconciler = Reconciler(_required(sending.client), state=state, log=self.log)
        extra: dict[str, Any] = {}
        extra["sync"] = run_sync(
            rows,
            mapper,
            sending.client,
            report,
            options=options,
            state=state,
            sync=self.sync_options,
            log=self.log,
            stats=sending.stats,
            headroom=sending.headroom,
            reconciler=reconciler,
        )
        if reconciler is not None:
            extra["reconcile"] = reconciler.summary()
        return extra

    def on_summary(self, context: Context, summary: Mapping[str, Any]) -> None:
        sync = summary.get("sync")
        if sync is not None:
            self.log.info(
                "Sync state %s: %s row(s) unchanged (not sent); %s",
                sync["state_path"],
                summary.get("unchanged", 0),
                sync["message"],
            )
        drift = summary.get("reconcile")
        if drift is not None:
            self.log.info(
                "Reconcile: %s event(s) of this app read from HubSpot in %s request(s); %s match, "
                "%s differ, %s missing (sent: %s).",
                drift["read"],
                drift["requests"],
                drift["matched"],
                drift["differed"],
                drift["missing"],
                "no, dry run" if summary.get("dry_run") else "yes",
            )
        self.record_run(context, summary)  # asset events, links, OpenLineage


def _required(client: HubSpotClient | None) -> HubSpotClient:
    """The client a reconcile reads with (opened on dry runs too: see ``reads_on_dry_run``)."""
    if client is None:
        raise RuntimeError("reconcile needs a HubSpot client to read what HubSpot holds")
    return client


def _sync_options(
    state_path: str | None,
    full_refresh: bool,
    on_missing: str,
    max_deletes: int | None,
    max_delete_fraction: float | None,
) -> SyncOptions:
    """Check the sync-state parameters at DAG parse time."""
    if not state_path and (full_refresh or on_missing != "ignore"):
        raise ValueError(
            "full_refresh and on_missing need a state_path: the events last sent are known from it."
        )
    return SyncOptions(
        on_missing=on_missing,  # type: ignore[arg-type]  # SyncOptions refuses other values
        max_deletes=max_deletes,
        max_delete_fraction=max_delete_fraction,
    )
