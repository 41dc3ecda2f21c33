"""``DeleteMarketingEventsOperator``: delete the events named by rows from XCom, a file or SQL.

A thin adapter over :func:`hubspot_events_provider.core.kinds.deletes.kind.run_delete` (the write
pipeline with the delete kind); inputs, templated paths, report files and secrets are the shared
:class:`~hubspot_events_provider.operators._rowwrite.RowWriteOperator`'s. Each row names one event
by ``externalAccountId`` and ``externalEventId`` (e.g. a tombstone table). Deleted events (and events
already gone) are counted where an upsert counts ``upserted``, and as ``deleted``, so
:class:`~hubspot_events_provider.operators.check.MarketingEventsUpsertCheckOperator` checks a delete
run like an upsert run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from hubspot_events_provider._storage import dag_folder
from hubspot_events_provider.core.kinds.deletes.kind import EventKeyMapper, run_delete
from hubspot_events_provider.core.kinds.events.keys import EVENT_KEY_FIELDS
from hubspot_events_provider.core.sync.rowstate import run_delete_sync
from hubspot_events_provider.operators._rowwrite import RowWriteOperator, WriteCall
from hubspot_events_provider.operators._sync import open_state, run_owner
from hubspot_events_provider.operators._templating import Templated, row_renderers, row_template_fields

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

__all__ = ["DeleteMarketingEventsOperator"]


class DeleteMarketingEventsOperator(RowWriteOperator):
    """Delete HubSpot Marketing Events by their external ids; report every row not deleted.

    Give exactly one input: ``events``, ``events_file`` or ``sql``; each row holds
    ``externalAccountId`` and ``externalEventId`` (or columns mapped to them). Batches go to
    ``POST /events/delete`` with this app's ``appId`` (found with one ``/events/search``), with
    ``DELETE /events/{externalEventId}`` one by one as the fallback. An event already gone counts as
    deleted, so a rerun is safe. Only this app's events can be deleted: HubSpot scopes both routes
    to the calling app.

    The input, sending and report parameters every row-writing operator shares (``file_format``,
    ``delimiter``, ``encoding``, ``sql``, ``sql_conn_id``, ``parameters``, ``fetch_size``,
    ``batch_size``, ``max_in_flight``, ``dry_run``, ``allow_empty``, ``rejected_path``,
    ``results_path``, ``payloads_path``, ``hubspot_conn_id``, ``hook_params``,
    ``progress_interval``) are documented on
    :class:`~hubspot_events_provider.operators._rowwrite.RowWriteOperator`; what some of them hold
    here is below.

    :param events: rows as a list of dicts, an ``XComArg`` or a JSON string. (templated)
    :param events_file: a JSON/JSON Lines/CSV file (path or URI; relative to the DAG folder). (templated)
    :param field_map: source key -> ``externalAccountId`` / ``externalEventId``. (templated)
    :param defaults: e.g. ``{"externalAccountId": "acme"}``. (templated)
    :param ignore_fields: other source keys to leave out on purpose.
    :param ignore_unmapped: leave out every other source key (e.g. a tombstone's ``deleted_at``).
    :param batch_size: events per ``POST /events/delete``, 1 to 100.
    :param dry_run: read and validate; delete nothing (``would_upsert`` counts what would be deleted).
    :param rejected_path: JSON Lines of the rows not deleted, with the reason. (templated)
    :param results_path: optional JSON Lines of the deleted events' ids. (templated)
    :param payloads_path: dry runs only: the ids each valid row would delete, one JSON line per row.
        (templated)
    :param state_path: the sync state of the upsert that created the events (its ``state_path``):
        each event deleted (or already gone) leaves it, so that upsert sends it again if it comes
        back to the source and its ``on_missing`` never acts on it again. Events the state does not
        know are deleted and not added. A corrupt state fails the task (rebuild it with the upsert's
        ``full_refresh``); a participation state is refused. (templated)
    """

    rows_field = "events"
    key_fields = EVENT_KEY_FIELDS
    action = "Deleting marketing events"
    unit = "event(s)"
    done = "deleted"
    summary_label = "delete"

    template_fields: Sequence[str] = (*row_template_fields("events", "field_map", "defaults"), "state_path")
    template_fields_renderers = row_renderers("events")
    ui_color = "#d9534f"

    def __init__(
        self,
        *,
        events: Any = None,
        events_file: str | None = None,
        field_map: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        ignore_fields: Sequence[str] | None = None,
        ignore_unmapped: bool = False,
        state_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.keep_input(events, events_file)
        self.field_map = field_map
        self.defaults = defaults
        self.ignore_fields = list(ignore_fields or [])
        self.ignore_unmapped = ignore_unmapped
        self.check_mapper()
        self.state_path = state_path
        self._state_owner = self.task_id

    @classmethod
    def path_fields(cls) -> tuple[str, ...]:
        """The base's templated paths, and ``state_path``."""
        return (*super().path_fields(), "state_path")

    def execute(self, context: Context) -> dict[str, Any]:
        self._state_owner = run_owner(context, self.task_id)  # names this run in the state's lock
        return super().execute(context)

    def build_mapper(self, templated: Templated) -> EventKeyMapper:
        return EventKeyMapper(
            field_map=templated(self.field_map),
            defaults=templated(self.defaults),
            ignore_fields=self.ignore_fields,
            ignore_unmapped=self.ignore_unmapped,
        )

    def write(self, call: WriteCall) -> Mapping[str, Any]:
        rows, mapper, report, options, sending = call
        keys = cast("EventKeyMapper", mapper)  # the one make_mapper() built
        if not self.state_path:
            run_delete(rows, keys, sending.client, report, options=options, **self.run_extras(sending))
            return {"deleted": report.upserted}
        state = open_state(
            str(self.state_path), dag_folder=dag_folder(self), full_refresh=False, owner=self._state_owner
        )
        sync = run_delete_sync(
            rows,
            keys,
            sending.client,
            report,
            options=options,
            state=state,
            log=self.log,
            stats=sending.stats,
            headroom=sending.headroom,
        )
        self.log.info("Sync state %s: %s", sync["state_path"], sync["message"])
        return {"deleted": report.upserted, "sync": sync}
