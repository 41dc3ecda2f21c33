"""``DeleteMarketingEventsOperator``: delete the events named by rows from XCom, a file or SQL.

The same three inputs, templating, report files and summary as the upsert operator (it reuses
that operator's input handling): each row names one event by ``externalAccountId`` and
``externalEventId`` (e.g. a tombstone table), and the core's delete kind
(:mod:`hubspot_events_provider.core.delete`) sends them through the write pipeline. Deleted events
(and events already gone) are counted where an upsert counts ``upserted``, and as ``deleted``, so
:class:`~hubspot_events_provider.operators.check.MarketingEventsUpsertCheckOperator` checks a delete
run like an upsert run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from hubspot_events_provider._storage import report_file
from hubspot_events_provider.core.delete import EventKeyMapper, run_delete
from hubspot_events_provider.core.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.upsert import MAX_BATCH_SIZE, UpsertOptions
from hubspot_events_provider.hooks.failures import fail_task_on_permanent_errors
from hubspot_events_provider.hooks.hubspot import HubSpotHook
from hubspot_events_provider.operators.upsert import UpsertMarketingEventsOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

__all__ = ["DeleteMarketingEventsOperator"]


class DeleteMarketingEventsOperator(UpsertMarketingEventsOperator):
    """Delete HubSpot Marketing Events by their external ids; report every row not deleted.

    Give exactly one input: ``events``, ``events_file`` or ``sql`` (see
    :class:`~hubspot_events_provider.operators.upsert.UpsertMarketingEventsOperator`); each row holds
    ``externalAccountId`` and ``externalEventId`` (or columns mapped to them). Batches go to
    ``POST /events/delete`` with this app's ``appId`` (found with one ``/events/search``), with
    ``DELETE /events/{externalEventId}`` one by one as the fallback. An event already gone counts as
    deleted, so a rerun is safe. Only this app's events can be deleted: HubSpot scopes both routes
    to the calling app.

    :param events: rows as a list of dicts, an ``XComArg`` or a JSON string. (templated)
    :param events_file: a JSON/JSON Lines/CSV file (path or URI; relative to the DAG folder). (templated)
    :param file_format: ``json``, ``jsonl``, ``ndjson`` or ``csv``; default: from the extension.
    :param delimiter: the CSV delimiter; default: detected.
    :param encoding: the text encoding of ``events_file``; default UTF-8.
    :param sql: a query whose rows name the events. (templated)
    :param sql_conn_id: a common-sql connection.
    :param parameters: query parameters for ``sql``. (templated)
    :param field_map: source key -> ``externalAccountId`` / ``externalEventId``. (templated)
    :param defaults: e.g. ``{"externalAccountId": "acme"}``. (templated)
    :param ignore_fields: other source keys to leave out on purpose.
    :param ignore_unmapped: leave out every other source key (e.g. a tombstone's ``deleted_at``).
    :param batch_size: events per ``POST /events/delete``, 1 to 100.
    :param max_in_flight: requests in flight at once.
    :param dry_run: read and validate; delete nothing (``would_upsert`` counts what would be deleted).
    :param allow_empty: an input with no rows succeeds instead of failing.
    :param rejected_path: JSON Lines of the rows not deleted, with the reason. (templated)
    :param results_path: optional JSON Lines of the deleted events' ids. (templated)
    :param hubspot_conn_id: the HubSpot connection. (templated)
    :param hook_params: non-secret overrides of the connection's extras.
    :param fetch_size: rows per ``fetchmany`` for ``sql``.
    :param progress_interval: seconds between progress log lines.
    """

    ui_color = "#d9534f"

    def __init__(
        self,
        *,
        events: Any = None,
        events_file: str | None = None,
        file_format: str | None = None,
        delimiter: str | None = None,
        encoding: str | None = None,
        sql: str | None = None,
        sql_conn_id: str | None = None,
        parameters: Any = None,
        field_map: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        ignore_fields: Sequence[str] | None = None,
        ignore_unmapped: bool = False,
        batch_size: int = MAX_BATCH_SIZE,
        max_in_flight: int = 8,
        dry_run: bool = False,
        allow_empty: bool = False,
        rejected_path: str | None = None,
        results_path: str | None = None,
        hubspot_conn_id: str = HubSpotHook.default_conn_name,
        hook_params: Mapping[str, Any] | None = None,
        fetch_size: int = 1000,
        progress_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            events=events,
            events_file=events_file,
            file_format=file_format,
            delimiter=delimiter,
            encoding=encoding,
            sql=sql,
            sql_conn_id=sql_conn_id,
            parameters=parameters,
            field_map=field_map,
            defaults=defaults,
            ignore_fields=ignore_fields,
            ignore_unmapped=ignore_unmapped,
            batch_size=batch_size,
            max_in_flight=max_in_flight,
            dry_run=dry_run,
            allow_empty=allow_empty,
            rejected_path=rejected_path,
            results_path=results_path,
            hubspot_conn_id=hubspot_conn_id,
            hook_params=hook_params,
            fetch_size=fetch_size,
            progress_interval=progress_interval,
            **kwargs,
        )
        if not any(isinstance(v, str) and "{{" in v for v in (field_map or {}).values()):
            EventKeyMapper(field_map=field_map)  # a target other than the two ids fails at parse time

    def execute(self, context: Context) -> dict[str, Any]:
        mapper = EventKeyMapper(
            field_map=self.field_map,
            defaults=self.defaults,
            ignore_fields=self.ignore_fields,
            ignore_unmapped=self.ignore_unmapped,
        )
        options = UpsertOptions(
            batch_size=self.batch_size,
            max_in_flight=self.max_in_flight,
            dry_run=self.send_nothing,
            allow_empty=self.allow_empty,
            progress_interval_s=self.progress_interval,
            source=self._source_name(),
        )
        rejected_location, results_location, _ = self._report_locations(context)
        with ExitStack() as stack:
            stack.enter_context(fail_task_on_permanent_errors())  # a wrong token: no Airflow retries

            def writer(location: str) -> JsonLinesWriter:
                return JsonLinesWriter(
                    stack.enter_context(report_file(location, on_partial=self._log_partial))
                )

            rows = self._rows(context)
            stack.callback(_close_quietly, rows)
            report = UpsertReport(
                dry_run=self.send_nothing,
                rejected=writer(rejected_location),
                results=writer(results_location) if results_location else None,
                rejected_path=rejected_location,
                results_path=results_location,
            )
            client = None
            stats: Callable[[], Mapping[str, int]] | None = None
            if not self.send_nothing:
                client = HubSpotHook(hubspot_conn_id=self.hubspot_conn_id, **self.hook_params).get_conn()
                stats = client.stats.snapshot
            self.log.info(
                "Deleting marketing events named by %s in batches of %d%s.",
                options.source,
                self.batch_size,
                " (dry run: nothing is deleted)" if self.send_nothing else "",
            )
            run_delete(rows, mapper, client, report, options=options, log=self.log, stats=stats)
        summary = report.summary()
        summary["deleted"] = summary["upserted"]
        self.log.info(
            "HubSpot delete summary: total=%s deleted=%s rejected=%s failed=%s superseded=%s requests=%s",
            summary["total"],
            summary["deleted"],
            summary["rejected"],
            summary["failed"],
            summary["superseded"],
            summary["requests"],
        )
        if summary["numErrors"]:
            self.log.warning(
                "%s rows were not deleted (by category: %s); every one, with its reason, is in %s",
                summary["numErrors"],
                summary["errors_by_category"],
                summary["rejected_path"],
            )
        return dict(summary)


def _close_quietly(rows: Any) -> None:
    close = getattr(rows, "close", None)
    if callable(close):
        close()
