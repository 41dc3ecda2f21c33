"""What every row-writing operator shares: one input of three, templated paths, report files, secrets.

A row-writing operator (``RecordMarketingEventAttendanceOperator`` now; the upsert operator's
machinery is the same) reads rows from exactly one input (a list / XComArg / JSON text, a file,
or a SQL query), hands them to a core ``run_*`` function with a report, and returns the report's
summary. :class:`RowWriteOperator` holds everything but the mapper and the core call:

* the inputs: ``<rows>`` (a list, an ``XComArg``, JSON / JSON Lines text, a ``.json``/``.jsonl``
  template), ``<rows>_file`` (JSON, JSON Lines, CSV, gzip; local or object storage; streamed) or
  ``sql`` + ``sql_conn_id`` (any common-sql connection), named per operator;
* templated *paths* (``<rows>_file``, ``rejected_path``, ``results_path``) rendered inline even when
  they end in ``.json``/``.jsonl`` (see :mod:`._paths`), relative ones taken from the DAG's folder;
* the rejected and results files (JSON Lines), the HubSpot client from the connection, the summary
  log lines, and the refusal of secrets passed as arguments.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseHook, BaseOperator

from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.pipeline import WriteOptions
from hubspot_events_provider.core.report import JsonLinesWriter, UpsertReport
from hubspot_events_provider.core.sources import SourceRow, rows_from_cursor, rows_from_events, rows_from_file
from hubspot_events_provider.hooks.hubspot import SECRET_ARGUMENTS, HubSpotHook
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

    from hubspot_events_provider.core.client import HubSpotClient

__all__ = ["FILE_FORMATS", "RowWriteOperator", "Sending", "has_jinja", "refuse_secrets"]

#: The hook's list of refused secret arguments, plus the operator-flavoured ``hubspot_token``.
SECRETS = tuple(sorted(SECRET_ARGUMENTS | {"hubspot_token"}))
FILE_FORMATS = ("json", "jsonl", "ndjson", "csv")


@dataclass(frozen=True)
class Sending:
    """What a run sends through: the client (``None`` on a dry run) and its counters/headroom."""

    client: HubSpotClient | None
    stats: Callable[[], Mapping[str, int]] | None
    headroom: Callable[[], str | None] | None


class RowWriteOperator(BaseOperator):
    """Base of the operators that write rows to HubSpot through the write pipeline.

    Subclasses set :attr:`rows_field` (``"attendance"``), call :meth:`_init_rows` from their
    ``__init__``, and implement :meth:`write` (build the mapper, call the core ``run_*``).
    The common parameters are documented on each public operator.
    """

    #: Name of the inline input parameter; the file input is ``<rows_field>_file``.
    rows_field: ClassVar[str] = "rows"
    #: Names of the key's parts in the results file (the write kind's ``key_fields``).
    key_fields: ClassVar[tuple[str, ...]] = ()
    #: What the log lines call the rows (``participations``).
    noun: ClassVar[str] = "rows"

    @classmethod
    def path_fields(cls) -> tuple[str, ...]:
        """Templated paths: rendered inline even when they end in a ``template_ext``."""
        return (f"{cls.rows_field}_file", "rejected_path", "results_path")

    def _init_rows(
        self,
        *,
        rows: Any,
        rows_file: str | None,
        file_format: str | None,
        sql: str | None,
        sql_conn_id: str | None,
        parameters: Any,
        fetch_size: int,
    ) -> None:
        """Check and keep the one input (raises ``ValueError`` at DAG parse time)."""
        name = self.rows_field
        given = [n for n, v in ((name, rows), (f"{name}_file", rows_file), ("sql", sql)) if v is not None]
        if len(given) != 1:
            raise ValueError(
                f"{self.__class__.__name__} needs exactly one input of {name}, {name}_file or sql; "
                f"got {', '.join(given) if given else 'none'}."
            )
        if sql is not None and not sql_conn_id:
            raise ValueError("sql needs sql_conn_id: the connection of the warehouse to query.")
        if file_format is not None and file_format.lower() not in FILE_FORMATS:
            raise ValueError(f"file_format must be one of {', '.join(FILE_FORMATS)}; got {file_format!r}.")
        if fetch_size < 1:
            raise ValueError(f"fetch_size must be at least 1, got {fetch_size}.")
        setattr(self, name, rows)
        setattr(self, f"{name}_file", rows_file)
        self.file_format = file_format.lower() if file_format else None
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.parameters = parameters
        self.fetch_size = fetch_size

    def _init_run(
        self,
        *,
        batch_size: int,
        max_in_flight: int,
        dry_run: bool,
        allow_empty: bool,
        rejected_path: str | None,
        results_path: str | None,
        hubspot_conn_id: str,
        hook_params: Mapping[str, Any] | None,
        progress_interval: float,
    ) -> None:
        """Check and keep how to run (raises ``ValueError`` at DAG parse time)."""
        WriteOptions(
            batch_size=batch_size, max_in_flight=max_in_flight, progress_interval_s=progress_interval
        )
        self.batch_size = batch_size
        self.max_in_flight = max_in_flight
        # BaseOperator has a dry_run() method (render templates only); keep it intact.
        self.send_nothing = dry_run
        self.allow_empty = allow_empty
        self.rejected_path = rejected_path
        self.results_path = results_path
        self.hubspot_conn_id = hubspot_conn_id
        self.hook_params = dict(hook_params or {})
        refuse_secrets(self.hook_params)
        self.progress_interval = progress_interval

    # -- templating: paths ending in .json/.jsonl are inline templates, never template files --

    def resolve_template_files(self) -> None:
        with inline_path_templates(self, self.path_fields()):
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
        names = [name for name in self.path_fields() if name in fields]
        with inline_path_templates(parent, names, seen_oids):
            super()._do_render_template_fields(parent, fields, context, jinja_env, seen_oids)

    # -- the run --------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        options = WriteOptions(
            batch_size=self.batch_size,
            max_in_flight=self.max_in_flight,
            dry_run=self.send_nothing,
            allow_empty=self.allow_empty,
            progress_interval_s=self.progress_interval,
            source=self._source_name(),
        )
        folder = dag_folder(self)
        rejected_location = (
            resolve_output_path(str(self.rejected_path), dag_folder=folder)
            if self.rejected_path
            else default_report_path(context, "rejected")
        )
        results_location = (
            resolve_output_path(str(self.results_path), dag_folder=folder) if self.results_path else None
        )
        with ExitStack() as stack:
            rows = self._rows()
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
                key_fields=self.key_fields,
            )
            sending = self._sending()
            self.log.info(
                "Writing %s from %s in batches of %d, %d in flight%s.",
                self.noun,
                options.source,
                self.batch_size,
                self.max_in_flight,
                " (dry run: nothing is sent)" if self.send_nothing else "",
            )
            extra = self.write(rows, report, options, sending)
        summary: dict[str, Any] = {**report.summary(), **extra}
        self._log_summary(summary)
        return summary

    def write(
        self, rows: Iterator[SourceRow], report: UpsertReport, options: WriteOptions, sending: Sending
    ) -> Mapping[str, Any]:
        """Write ``rows`` (the subclass's core call); return extra summary keys (may be empty)."""
        raise NotImplementedError

    def _sending(self) -> Sending:
        if self.send_nothing:
            return Sending(None, None, None)
        client = HubSpotHook(hubspot_conn_id=self.hubspot_conn_id, **self.hook_params).get_conn()
        return Sending(client, client.stats.snapshot, headroom_reader(client))

    # -- inputs -------------------------------------------------------------------------------

    def _source_name(self) -> str:
        name = f"{self.rows_field}_file"
        if getattr(self, name) is not None:
            return f"{name} {str(getattr(self, name))!r}"
        if self.sql is not None:
            return f"sql on connection {self.sql_conn_id!r}"
        return self.rows_field

    def _rows(self) -> Iterator[SourceRow]:
        inline, path_value = getattr(self, self.rows_field), getattr(self, f"{self.rows_field}_file")
        if inline is not None:
            return rows_from_events(materialise(inline), source=self.rows_field)
        if path_value is not None:
            path = resolve_input_path(str(path_value), dag_folder=dag_folder(self))
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
            "HubSpot %s summary: total=%s written=%s rejected=%s failed=%s superseded=%s "
            "numErrors=%s error_rate=%.4f requests=%s retries=%s rate_limited=%s dry_run=%s",
            self.noun,
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
                "%s rows were not written (by category: %s). Every one of them, with its reason, is in %s",
                summary.get("numErrors"),
                summary.get("errors_by_category"),
                summary.get("rejected_path"),
            )
            for sample in summary.get("sample_errors") or []:
                self.log.warning("  %s", sample)


def refuse_secrets(kwargs: Mapping[str, Any]) -> None:
    """Refuse a HubSpot secret passed as an operator argument (it would reach the DAG file, the
    rendered template and the logs).

    :raises ValueError: one of :data:`SECRETS` is in ``kwargs``.
    """
    for name in SECRETS:
        if name in kwargs:
            message = (
                f"The argument {name!r} is refused: a HubSpot secret passed to an operator ends up in the "
                "DAG file, the rendered template and the logs. Put it in the Airflow Connection named by "
                "hubspot_conn_id (password = access token; OAuth secrets in extras)."
            )
            warnings.warn(message, UserWarning, stacklevel=4)
            raise ValueError(message)


def has_jinja(value: Any) -> bool:
    """Whether a parameter still holds a Jinja template (it cannot be checked before rendering)."""
    if value is None:
        return False
    text = str(value)
    return "{{" in text or "{%" in text


def materialise(rows: Any) -> Any:
    """XCom results may be lazy sequences (mapped pulls); give the reader a list or the string."""
    if isinstance(rows, str | bytes | Mapping | list):
        return rows
    if isinstance(rows, Sequence) or hasattr(rows, "__iter__"):
        return list(rows)
    return rows


def dag_folder(operator: BaseOperator) -> str | None:
    """The DAG file's folder, or ``None`` for an operator outside any DAG (``.dag`` would raise)."""
    try:
        dag = operator.dag
    except RuntimeError:  # "has not been assigned to a Dag yet" (Airflow 3.1+); older: None
        return None
    folder = getattr(dag, "folder", None) if dag is not None else None
    return str(folder) if folder else None


def headroom_reader(client: Any) -> Callable[[], str | None]:
    """A reader of the client's last rate-limit headers, for progress lines."""

    def read() -> str | None:
        status = getattr(client, "rate_limit_status", None)
        if status is None:
            return None
        return (
            f"{status.remaining}/{status.max} requests left in the {status.interval_ms / 1000:.0f} s window"
        )

    return read


def _close_quietly(rows: Any) -> None:
    close = getattr(rows, "close", None)
    if callable(close):
        close()
