"""``UpsertMarketingEventsOperator``: rows from XCom, a file or SQL, batch-upserted into HubSpot.

The operator is a thin adapter: it renders its parameters, opens the one input it was given
(``events``, ``events_file`` or ``sql``), builds the HubSpot client from the Airflow Connection and
hands everything to :func:`hubspot_events_provider.core.upsert.run_upsert`. The return value
(pushed to XCom) is a small summary whose size does not depend on the input; every row that was not
upserted is in the rejected file (JSON Lines), with its position, stage, category and reason.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from typing import IO, TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseHook, BaseOperator

from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.model import EventMapper
from hubspot_events_provider.core.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.sources import SourceRow, rows_from_cursor, rows_from_events, rows_from_file
from hubspot_events_provider.core.upsert import MAX_BATCH_SIZE, UpsertOptions, run_upsert
from hubspot_events_provider.hooks.hubspot import SECRET_ARGUMENTS, HubSpotHook
from hubspot_events_provider.lineage import HubSpotNativeMixin
from hubspot_events_provider.operators._paths import (
    default_report_path,
    inline_path_templates,
    open_for_writing,
    resolve_input_path,
    resolve_output_path,
)

if TYPE_CHECKING:
    import jinja2
    from airflow.providers.common.compat.sdk import Context

__all__ = ["UpsertMarketingEventsOperator"]

#: The hook's list of refused secret arguments, plus the operator-flavoured ``hubspot_token``.
_SECRET_ARGUMENTS = tuple(sorted(SECRET_ARGUMENTS | {"hubspot_token"}))
_FILE_FORMATS = ("json", "jsonl", "ndjson", "csv")
#: Templated paths: rendered inline even when they end in a ``template_ext`` (see ``_paths``).
_PATH_FIELDS = ("events_file", "rejected_path", "results_path")


class UpsertMarketingEventsOperator(HubSpotNativeMixin, BaseOperator):
    """Batch-upsert HubSpot Marketing Events; report every row that was not upserted.

    Give exactly one input: ``events``, ``events_file`` or ``sql``.

    :param events: events as a list of dicts, an ``XComArg``, a JSON (array or JSON Lines) string,
        or a ``.json``/``.jsonl`` template file next to the DAG that Jinja renders. (templated)
    :param events_file: a path or object-storage URI (``file://``, ``s3://``, ``gs://``...) of a JSON
        array, JSON Lines/NDJSON or CSV file, optionally gzip-compressed; streamed, never loaded
        whole. A relative path is resolved against the DAG's folder. (templated)
    :param file_format: ``json``, ``jsonl``, ``ndjson`` or ``csv``; default: from the extension.
    :param sql: a query whose rows are the events; column names are the source keys. Read with
        ``fetchmany``, never whole. (templated; a ``.sql`` file next to the DAG works too)
    :param sql_conn_id: the connection of any common-sql ``DbApiHook`` (SQLite, Postgres, Snowflake...).
    :param parameters: query parameters for ``sql``. (templated)
    :param field_map: source key -> HubSpot field, e.g. ``{"id": "externalEventId"}``; keys that
        already are HubSpot field names need no entry. (templated)
    :param custom_properties: source keys sent as ``customProperties`` ``{name, value}``: a list
        (property name = key) or a mapping source key -> HubSpot property name. (templated)
    :param defaults: values for fields a row lacks, e.g. ``{"externalAccountId": "acme"}``. (templated)
    :param timezone: IANA time zone for naive datetimes (default ``UTC``).
    :param ignore_fields: source keys to leave out on purpose. Any other key that maps to no
        HubSpot field is refused before anything is sent.
    :param ignore_unmapped: leave out every unmapped key (opt out of that check wholesale).
    :param batch_size: events per request, 1 to 100 (HubSpot's batch limit).
    :param max_in_flight: batches in flight at once; the hook's limiter keeps the total inside
        the app's rate budget.
    :param dry_run: read, map, validate and report what would be sent; send nothing.
    :param allow_empty: an input with no rows succeeds (normal for incremental syncs) instead of failing.
    :param rejected_path: where the rejected rows go (JSON Lines; a path or URI); default: a
        per-task file under the system temp dir (per map index and try). A relative path is
        resolved against the DAG's folder, like ``events_file``; the summary holds the resolved
        path. (templated)
    :param results_path: optional; one JSON line per upserted event with its external ids and
        HubSpot object id. Relative paths as for ``rejected_path``. (templated)
    :param hubspot_conn_id: the HubSpot connection. The token lives only there. (templated)
    :param hook_params: non-secret overrides of the connection's extras for this task, e.g.
        ``{"max_requests_per_10s": 50}`` to give each mapped partition its share of the app's budget.
        Secrets are refused: they belong in the Connection.
    :param fetch_size: rows per ``fetchmany`` for ``sql``.
    :param progress_interval: seconds between progress log lines.
    """

    template_fields: Sequence[str] = (
        "events",
        "events_file",
        "sql",
        "parameters",
        "field_map",
        "custom_properties",
        "defaults",
        "rejected_path",
        "results_path",
        "hubspot_conn_id",
        "sql_conn_id",
    )
    template_ext: Sequence[str] = (".json", ".jsonl", ".ndjson", ".sql")
    template_fields_renderers = {"events": "json", "sql": "sql", "field_map": "json", "defaults": "json"}
    ui_color = "#ff7a59"

    def __init__(
        self,
        *,
        events: Any = None,
        events_file: str | None = None,
        file_format: str | None = None,
        sql: str | None = None,
        sql_conn_id: str | None = None,
        parameters: Any = None,
        field_map: Mapping[str, str] | None = None,
        custom_properties: Sequence[str] | Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        timezone: str = "UTC",
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
        _refuse_secrets(kwargs)
        super().__init__(**kwargs)
        given = [
            name
            for name, value in (("events", events), ("events_file", events_file), ("sql", sql))
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"{self.__class__.__name__} needs exactly one input of events, events_file or sql; "
                f"got {', '.join(given) if given else 'none'}."
            )
        if sql is not None and not sql_conn_id:
            raise ValueError("sql needs sql_conn_id: the connection of the warehouse to query.")
        if file_format is not None and file_format.lower() not in _FILE_FORMATS:
            raise ValueError(f"file_format must be one of {', '.join(_FILE_FORMATS)}; got {file_format!r}.")
        if fetch_size < 1:
            raise ValueError(f"fetch_size must be at least 1, got {fetch_size}.")
        # Validates batch_size / max_in_flight / progress_interval now, at DAG parse time.
        UpsertOptions(
            batch_size=batch_size, max_in_flight=max_in_flight, progress_interval_s=progress_interval
        )
        EventMapper.validate_config(
            field_map=None if _has_jinja(field_map) else field_map,
            custom_properties=None if _has_jinja(custom_properties) else custom_properties,
            defaults=None if _has_jinja(defaults) else defaults,
            timezone=timezone,
        )
        self.events = events
        self.events_file = events_file
        self.file_format = file_format.lower() if file_format else None
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.parameters = parameters
        self.field_map = field_map
        self.custom_properties = custom_properties
        self.defaults = defaults
        self.timezone = timezone
        self.ignore_fields = list(ignore_fields or [])
        self.ignore_unmapped = ignore_unmapped
        self.batch_size = batch_size
        self.max_in_flight = max_in_flight
        # BaseOperator has a dry_run() method (render templates only); keep it intact.
        self.send_nothing = dry_run
        self.allow_empty = allow_empty
        self.rejected_path = rejected_path
        self.results_path = results_path
        self.hubspot_conn_id = hubspot_conn_id
        self.hook_params = dict(hook_params or {})
        _refuse_secrets(self.hook_params)
        self.fetch_size = fetch_size
        self.progress_interval = progress_interval

    # -- templating: paths ending in .json/.jsonl are inline templates, never template files --

    def resolve_template_files(self) -> None:
        with inline_path_templates(self, _PATH_FIELDS):
            super().resolve_template_files()

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        fields = list(template_fields)
        names = [name for name in _PATH_FIELDS if name in fields]
        with inline_path_templates(parent, names, seen_oids):
            super()._do_render_template_fields(parent, fields, context, jinja_env, seen_oids)

    def execute(self, context: Context) -> dict[str, Any]:
        mapper = EventMapper(
            field_map=self.field_map,
            custom_properties=self.custom_properties,
            defaults=self.defaults,
            timezone=self.timezone,
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
        folder = _dag_folder(self)
        rejected_location = (
            resolve_output_path(str(self.rejected_path), dag_folder=folder)
            if self.rejected_path
            else default_report_path(context, "rejected")
        )
        results_location = (
            resolve_output_path(str(self.results_path), dag_folder=folder) if self.results_path else None
        )
        with ExitStack() as stack:
            rows = self._rows(context)
            stack.callback(_close_quietly, rows)
            rejected = JsonLinesWriter(stack.enter_context(open_for_writing(rejected_location)))
            results = (
                JsonLinesWriter(stack.enter_context(open_for_writing(results_location)))
                if results_location
                else None
            )
            report = UpsertReport(
                dry_run=self.send_nothing,
                rejected=rejected,
                results=results,
                rejected_path=rejected_location,
                results_path=results_location,
            )
            client = None
            stats: Callable[[], Mapping[str, int]] | None = None
            headroom: Callable[[], str | None] | None = None
            if not self.send_nothing:
                hook = HubSpotHook(hubspot_conn_id=self.hubspot_conn_id, **self.hook_params)
                client = hook.get_conn()
                stats = client.stats.snapshot
                headroom = _headroom_reader(client)
            self.log.info(
                "Upserting marketing events from %s in batches of %d, %d in flight%s.",
                options.source,
                self.batch_size,
                self.max_in_flight,
                " (dry run: nothing is sent)" if self.send_nothing else "",
            )
            run_upsert(
                rows,
                mapper,
                client,
                report,
                options=options,
                log=self.log,
                stats=stats,
                headroom=headroom,
            )
            self.read_account(client)  # lineage namespace and UI link; after the summary's counters
        summary = report.summary()
        self.record_run(context, summary)  # asset events, links, OpenLineage
        self._log_summary(summary)
        return summary

    # -- inputs -------------------------------------------------------------------------------

    def _source_name(self) -> str:
        if self.events_file is not None:
            return f"events_file {str(self.events_file)!r}"
        if self.sql is not None:
            return f"sql on connection {self.sql_conn_id!r}"
        return "events"

    def _rows(self, context: Context) -> Iterator[SourceRow]:
        if self.events is not None:
            return rows_from_events(_materialise(self.events), source="events")
        if self.events_file is not None:
            path = resolve_input_path(str(self.events_file), dag_folder=_dag_folder(self))
            opener: Callable[[], IO[bytes]] = path.open_binary
            return rows_from_file(opener, name=path.display, file_format=self.file_format)
        return self._sql_rows()

    def _sql_rows(self) -> Iterator[SourceRow]:
        hook = BaseHook.get_connection(str(self.sql_conn_id)).get_hook()  # type: ignore[no-untyped-call]
        if not hasattr(hook, "get_conn"):
            raise InputError(
                f"connection {self.sql_conn_id!r} has no DB-API hook; sql needs a common-sql connection"
            )
        source = f"sql on connection {self.sql_conn_id!r}"
        conn = hook.get_conn()
        try:
            cursor = conn.cursor()
            try:
                if self.parameters is not None:
                    cursor.execute(self.sql, self.parameters)
                else:
                    cursor.execute(self.sql)
                yield from rows_from_cursor(cursor, source=source, fetch_size=self.fetch_size)
            finally:
                cursor.close()
        finally:
            conn.close()

    def _log_summary(self, summary: Mapping[str, Any]) -> None:
        self.log.info(
            "HubSpot upsert summary: total=%s upserted=%s rejected=%s failed=%s superseded=%s "
            "numErrors=%s error_rate=%.4f requests=%s retries=%s rate_limited=%s dry_run=%s",
            summary.get("total"),
            summary.get("upserted"),
            summary.get("rejected"),
            summary.get("failed"),
            summary.get("superseded"),
            summary.get("numErrors"),
            float(summary.get("error_rate") or 0.0),
            summary.get("requests"),
            summary.get("retries"),
            summary.get("rate_limited"),
            summary.get("dry_run"),
        )
        if summary.get("numErrors"):
            self.log.warning(
                "%s rows were not upserted (by category: %s). Every one of them, with its reason, is in %s",
                summary.get("numErrors"),
                summary.get("errors_by_category"),
                summary.get("rejected_path"),
            )
            for sample in summary.get("sample_errors") or []:
                self.log.warning("  %s", sample)


def _refuse_secrets(kwargs: Mapping[str, Any]) -> None:
    for name in _SECRET_ARGUMENTS:
        if name in kwargs:
            message = (
                f"The argument {name!r} is refused: a HubSpot secret passed to an operator ends up in the "
                "DAG file, the rendered template and the logs. Put it in the Airflow Connection named by "
                "hubspot_conn_id (password = access token; OAuth secrets in extras)."
            )
            warnings.warn(message, UserWarning, stacklevel=3)
            raise ValueError(message)


def _close_quietly(rows: Any) -> None:
    close = getattr(rows, "close", None)
    if callable(close):
        close()


def _has_jinja(value: Any) -> bool:
    if value is None:
        return False
    text = str(value)
    return "{{" in text or "{%" in text


def _materialise(events: Any) -> Any:
    """XCom results may be lazy sequences (mapped pulls); give the reader a list or the string."""
    if isinstance(events, str | bytes | Mapping | list):
        return events
    if isinstance(events, Sequence) or hasattr(events, "__iter__"):
        return list(events)
    return events


def _dag_folder(operator: BaseOperator) -> str | None:
    """The DAG file's folder, or ``None`` for an operator outside any DAG (``.dag`` would raise)."""
    try:
        dag = operator.dag
    except RuntimeError:  # "has not been assigned to a Dag yet" (Airflow 3.1+); older: None
        return None
    folder = getattr(dag, "folder", None) if dag is not None else None
    return str(folder) if folder else None


def _headroom_reader(client: Any) -> Callable[[], str | None]:
    def read() -> str | None:
        status = getattr(client, "rate_limit_status", None)
        if status is None:
            return None
        return (
            f"{status.remaining}/{status.max} requests left in the {status.interval_ms / 1000:.0f} s window"
        )

    return read
