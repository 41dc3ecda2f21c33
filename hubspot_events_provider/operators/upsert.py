"""``UpsertMarketingEventsOperator``: rows from XCom, a file or SQL, batch-upserted into HubSpot.

The operator is a thin adapter: it renders its parameters, opens the one input it was given
(``events``, ``events_file`` or ``sql``), builds the HubSpot client from the Airflow Connection and
hands everything to :func:`hubspot_events_provider.core.upsert.run_upsert`. The return value
(pushed to XCom) is a small summary whose size does not depend on the input; every row that was not
upserted is in the rejected file (JSON Lines), with its position, stage, category and reason.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from typing import IO, TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, BaseHook, BaseOperator

from hubspot_events_provider._storage import (
    dag_folder,
    default_report_path,
    inline_path_templates,
    report_file,
    resolve_input_path,
    resolve_output_path,
)
from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.model import EventMapper
from hubspot_events_provider.core.preflight import MissingSourceError, check_required_sources
from hubspot_events_provider.core.report import JsonLinesWriter, UpsertReport, json_default
from hubspot_events_provider.core.sources import (
    SourceRow,
    check_file_options,
    detect_format,
    rows_from_cursor,
    rows_from_events,
    rows_from_file,
)
from hubspot_events_provider.core.upsert import MAX_BATCH_SIZE, UpsertOptions, run_upsert
from hubspot_events_provider.hooks.failures import fail_task_on_permanent_errors
from hubspot_events_provider.hooks.hubspot import SECRET_ARGUMENTS, HubSpotHook
from hubspot_events_provider.lineage import HubSpotNativeMixin

if TYPE_CHECKING:
    import jinja2
    from airflow.providers.common.compat.sdk import Context

__all__ = ["UpsertMarketingEventsOperator"]

#: The hook's list of refused secret arguments (one list for hook and operators).
_SECRET_ARGUMENTS = tuple(sorted(SECRET_ARGUMENTS))
_FILE_FORMATS = ("json", "jsonl", "ndjson", "csv")
#: Templated paths: rendered inline even when they end in a ``template_ext`` (see ``_storage``).
_PATH_FIELDS = ("events_file", "rejected_path", "results_path", "payloads_path")
#: Payloads a dry run shows in the task log.
_SAMPLE_PAYLOADS = 3


class UpsertMarketingEventsOperator(HubSpotNativeMixin, BaseOperator):
    """Batch-upsert HubSpot Marketing Events; report every row that was not upserted.

    Give exactly one input: ``events``, ``events_file`` or ``sql``.

    :param events: events as a list of dicts, an ``XComArg``, a JSON (array or JSON Lines) string,
        or a ``.json``/``.jsonl`` template file next to the DAG that Jinja renders. (templated)
    :param events_file: a path or object-storage URI (``file://``, ``s3://``, ``gs://``...) of a JSON
        array, JSON Lines/NDJSON or CSV file, optionally gzip-compressed; streamed, never loaded
        whole. A relative path is resolved against the DAG's folder. (templated)
    :param file_format: ``json``, ``jsonl``, ``ndjson`` or ``csv``; default: from the extension.
    :param delimiter: the CSV delimiter (one character); default: detected from the header among
        ``,``, ``;``, tab and ``|`` (the log says when it is not a comma).
    :param encoding: the text encoding of ``events_file`` (a Python codec name: ``cp1252``,
        ``latin-1``, ``utf-16``...); default: UTF-8, or what a UTF-16/32 byte-order mark says.
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
    :param date_format: an optional ``strptime`` format tried first for date/time strings, e.g.
        ``"%d/%m/%Y %H:%M"`` for day-first dates; ISO 8601 and epoch values still work.
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
    :param payloads_path: dry runs only: every payload that would be sent, one JSON line
        ``{"position", "line", "payload"}`` per valid row in input order (of duplicates the last one
        is sent; the others are in the rejected file as superseded). A path or URI, relative paths
        as for ``rejected_path``. Without it a dry run logs the first 3 payloads. (templated)
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
        "payloads_path",
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
        delimiter: str | None = None,
        encoding: str | None = None,
        sql: str | None = None,
        sql_conn_id: str | None = None,
        parameters: Any = None,
        field_map: Mapping[str, str] | None = None,
        custom_properties: Sequence[str] | Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        timezone: str = "UTC",
        date_format: str | None = None,
        ignore_fields: Sequence[str] | None = None,
        ignore_unmapped: bool = False,
        batch_size: int = MAX_BATCH_SIZE,
        max_in_flight: int = 8,
        dry_run: bool = False,
        allow_empty: bool = False,
        rejected_path: str | None = None,
        results_path: str | None = None,
        payloads_path: str | None = None,
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
        check_file_options(delimiter, encoding)
        if payloads_path is not None and not dry_run:
            raise ValueError("payloads_path is written by dry runs only: pass dry_run=True with it.")
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
            date_format=date_format,
        )
        self.events = events
        self.events_file = events_file
        self.file_format = file_format.lower() if file_format else None
        self.delimiter = delimiter
        self.encoding = encoding
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.parameters = parameters
        self.field_map = field_map
        self.custom_properties = custom_properties
        self.defaults = defaults
        self.timezone = timezone
        self.date_format = date_format
        self.ignore_fields = list(ignore_fields or [])
        self.ignore_unmapped = ignore_unmapped
        self.batch_size = batch_size
        self.max_in_flight = max_in_flight
        # BaseOperator has a dry_run() method (render templates only); keep it intact.
        self.send_nothing = dry_run
        self.allow_empty = allow_empty
        self.rejected_path = rejected_path
        self.results_path = results_path
        self.payloads_path = payloads_path
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
            date_format=self.date_format,
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
        rejected_location, results_location, payloads_location = self._report_locations(context)
        sample: list[Any] = []
        with ExitStack() as stack:
            stack.enter_context(fail_task_on_permanent_errors())  # a wrong token: no Airflow retries

            def writer(location: str) -> JsonLinesWriter:
                # Written aside and moved into place only when the run completes: a failing run
                # never truncates an earlier run's reports (see _storage.report_file).
                return JsonLinesWriter(
                    stack.enter_context(report_file(location, on_partial=self._log_partial))
                )

            source_rows = self._rows(context)
            stack.callback(_close_quietly, source_rows)
            # A required field no row can have is one configuration error, not a row error per row.
            rows = check_required_sources(
                source_rows, mapper, source=options.source, fixed_columns=self._fixed_columns()
            )
            report = UpsertReport(
                dry_run=self.send_nothing,
                rejected=writer(rejected_location),
                results=writer(results_location) if results_location else None,
                rejected_path=rejected_location,
                results_path=results_location,
            )
            if self.send_nothing:
                payloads = writer(payloads_location) if payloads_location else None
                rows = _capture_payloads(rows, mapper, payloads, sample)
            try:
                self._run(rows, mapper, report, options)
            except MissingSourceError as exc:  # no retry heals a configuration mistake
                raise AirflowFailException(str(exc)) from exc
        summary = report.summary()
        self.record_run(context, summary)  # asset events, links, OpenLineage
        self._log_summary(summary)
        if self.send_nothing:
            self._log_payloads(sample, payloads_location, summary.get("would_upsert"))
        return dict(summary)

    def _report_locations(self, context: Context) -> tuple[str, str | None, str | None]:
        """Where the rejected, results and payloads files go (relative paths: the DAG folder)."""
        folder = dag_folder(self)
        rejected = (
            resolve_output_path(str(self.rejected_path), dag_folder=folder)
            if self.rejected_path
            else default_report_path(context, "rejected")
        )
        results = (
            resolve_output_path(str(self.results_path), dag_folder=folder) if self.results_path else None
        )
        payloads = (
            resolve_output_path(str(self.payloads_path), dag_folder=folder) if self.payloads_path else None
        )
        return rejected, results, payloads

    def _log_payloads(self, sample: list[Any], location: str | None, would_upsert: Any) -> None:
        if location:
            self.log.info("Dry run: every payload that would be sent is in %s", location)
        if not sample:
            self.log.info("Dry run: no valid row, so no payload would be sent.")
            return
        self.log.info(
            "Dry run: %d event(s) would be upserted; the first %d payload(s):", would_upsert or 0, len(sample)
        )
        for payload in sample:
            self.log.info("  %s", json.dumps(payload, ensure_ascii=False, default=json_default))

    def _run(
        self, rows: Iterator[SourceRow], mapper: EventMapper, report: UpsertReport, options: UpsertOptions
    ) -> None:
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
            rows, mapper, client, report, options=options, log=self.log, stats=stats, headroom=headroom
        )
        self.read_account(client)  # lineage namespace and UI link; after the summary's counters

    def _log_partial(self, location: str, kept: str) -> None:
        self.log.error(
            "The run failed: %s was left as it was (an earlier run's report, if any, is intact); "
            "what this run recorded before failing is in %s",
            location,
            kept,
        )

    # -- inputs -------------------------------------------------------------------------------

    def _source_name(self) -> str:
        if self.events_file is not None:
            return f"events_file {str(self.events_file)!r}"
        if self.sql is not None:
            return f"sql on connection {self.sql_conn_id!r}"
        return "events"

    def _fixed_columns(self) -> bool:
        """Whether every row has the same keys (CSV header, SQL columns)."""
        if self.sql is not None:
            return True
        if self.events_file is None:
            return False
        try:
            return detect_format(str(self.events_file), self.file_format) == "csv"
        except InputError:
            return False  # reading the file reports the unknown format

    def _rows(self, context: Context) -> Iterator[SourceRow]:
        if self.events is not None:
            return rows_from_events(_materialise(self.events), source="events")
        if self.events_file is not None:
            folder = dag_folder(self)
            path = resolve_input_path(str(self.events_file), dag_folder=folder)
            self._log_input_path(str(self.events_file), path.display, folder)
            opener: Callable[[], IO[bytes]] = path.open_binary
            return rows_from_file(
                opener,
                name=path.display,
                file_format=self.file_format,
                delimiter=self.delimiter,
                encoding=self.encoding,
                on_detect=self.log.info,
            )
        return self._sql_rows()

    def _log_input_path(self, given: str, resolved: str, folder: str | None) -> None:
        if given.strip() == resolved:
            self.log.info("Reading events_file %s", resolved)
        elif folder and not _is_absolute_or_uri(given):
            self.log.info("Reading events_file %s (%r taken from the DAG folder %s)", resolved, given, folder)
        else:
            self.log.info("Reading events_file %s (given as %r)", resolved, given)

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


def _capture_payloads(
    rows: Iterable[SourceRow], mapper: EventMapper, writer: JsonLinesWriter | None, sample: list[Any]
) -> Iterator[SourceRow]:
    """Pass rows through; write (and sample) the payload each valid row would be sent as (dry runs)."""
    for row in rows:
        if isinstance(row.data, Mapping):
            payload = mapper.map_row(row.data).payload
            if payload is not None:
                if writer is not None:
                    writer.write({"position": row.position, "line": row.line, "payload": payload})
                if len(sample) < _SAMPLE_PAYLOADS:
                    sample.append(payload)
        yield row


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


def _is_absolute_or_uri(location: str) -> bool:
    location = location.strip()
    return "://" in location or os.path.isabs(os.path.expanduser(location))


def _headroom_reader(client: Any) -> Callable[[], str | None]:
    def read() -> str | None:
        status = getattr(client, "rate_limit_status", None)
        if status is None:
            return None
        return (
            f"{status.remaining}/{status.max} requests left in the {status.interval_ms / 1000:.0f} s window"
        )

    return read
