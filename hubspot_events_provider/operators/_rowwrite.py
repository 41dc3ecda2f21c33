"""The base of every row-writing operator: its settings, checked at DAG parse time, and the run.

A row-writing operator (``UpsertMarketingEventsOperator``, ``RecordMarketingEventAttendanceOperator``,
``DeleteMarketingEventsOperator``) reads rows from exactly one input, hands them to a core ``run_*``
function (the write pipeline with its write kind) with a report, and returns the report's summary.
:class:`RowWriteOperator` holds everything but the mapper and the core call; each job has its own
module:

* :mod:`._inputs`: the one input of three (``<rows>``, ``<rows>_file``, ``sql``), opened and read;
* :mod:`._templating`: template fields, templated paths rendered inline (relative ones taken from
  the DAG's folder), mapping parameters still holding Jinja at parse time;
* :mod:`._reports`: the rejected, results and dry-run payloads files and the summary log lines;
* :mod:`._budget`: the HubSpot client from the connection and a mapped task's budget share.

The parameters every row-writing operator shares (the input settings, the run settings, the report
paths, the connection) are declared once, keyword-only with their defaults, on
:meth:`RowWriteOperator.__init__`, as Airflow's own providers do (common-sql's ``BaseSQLOperator``): a
subclass declares only its own parameters, passes the rest on with ``**kwargs`` (so a DAG's
``default_args`` reach them too), and right after ``super().__init__`` hands its row input over under
its public names with :meth:`~RowWriteOperator.keep_input`, which checks every shared parameter at
DAG parse time. It also sets the class attributes (:attr:`~RowWriteOperator.rows_field`,
``key_fields``, ``action``, ``unit``, ``done``, ``summary_label``; ``template_fields`` from
:func:`~._templating.row_template_fields`) and implements :meth:`~RowWriteOperator.build_mapper` and
:meth:`~RowWriteOperator.write` (the core ``run_*`` call, with :meth:`~RowWriteOperator.run_extras`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from airflow.providers.common.compat.sdk import AirflowFailException

from hubspot_events_provider._storage import dag_folder
from hubspot_events_provider.core.engine.contract import RowMapper
from hubspot_events_provider.core.engine.report import UpsertReport
from hubspot_events_provider.core.engine.run import MAX_BATCH_SIZE, RunExtras, WriteOptions
from hubspot_events_provider.core.kinds.events.preflight import MissingSourceError
from hubspot_events_provider.core.rows.sources import SourceRow
from hubspot_events_provider.hooks.failures import fail_task_on_permanent_errors
from hubspot_events_provider.hooks.hubspot import SECRET_ARGUMENTS, HubSpotHook
from hubspot_events_provider.operators._budget import Sending, TaskSlots, open_sending
from hubspot_events_provider.operators._inputs import RowInputs
from hubspot_events_provider.operators._reports import (
    ReportFiles,
    capture_payloads,
    log_payloads,
    log_summary,
    open_writer,
)
from hubspot_events_provider.operators._templating import (
    InlinePathTemplates,
    Templated,
    as_rendered,
    unless_jinja,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

__all__ = ["SECRETS", "RowWriteOperator", "RunSettings", "WriteCall", "refuse_secrets"]

#: The hook's list of refused secret arguments (one list for hook and operators).
SECRETS = tuple(sorted(SECRET_ARGUMENTS))


@dataclass(frozen=True)
class RunSettings:
    """How a row-writing operator runs: batches, dry run, report paths, the HubSpot connection."""

    batch_size: int
    max_in_flight: int
    dry_run: bool
    allow_empty: bool
    rejected_path: str | None
    results_path: str | None
    payloads_path: str | None
    hubspot_conn_id: str
    hook_params: Mapping[str, Any] | None
    progress_interval: float

    def check(self) -> None:
        """Check at DAG parse time.

        :raises ValueError: ``payloads_path`` without ``dry_run``; a batch size, in-flight count or
            progress interval :class:`WriteOptions` refuses; a secret in ``hook_params``.
        """
        if self.payloads_path is not None and not self.dry_run:
            raise ValueError("payloads_path is written by dry runs only: pass dry_run=True with it.")
        WriteOptions(
            batch_size=self.batch_size,
            max_in_flight=self.max_in_flight,
            progress_interval_s=self.progress_interval,
        )
        refuse_secrets(self.hook_params or {})


class WriteCall(NamedTuple):
    """What :meth:`RowWriteOperator.write` gets: the source rows, the mapper, the report, the run's
    options and the client with its budget sharing."""

    rows: Iterator[SourceRow]
    mapper: RowMapper
    report: UpsertReport
    options: WriteOptions
    sending: Sending


class RowWriteOperator(InlinePathTemplates):
    """Base of the operators that write rows to HubSpot through the write pipeline.

    Each operator gives exactly one input: its rows (``events``, ``attendance``...), its file input
    (``<rows>_file``) or ``sql``. The parameters below are the ones every row-writing operator takes;
    each operator documents its own, and what a shared one holds for it (e.g. a results line).

    :param file_format: ``json``, ``jsonl``, ``ndjson`` or ``csv`` for the file input; default: from
        the extension.
    :param delimiter: the CSV delimiter (one character); default: detected from the header among
        ``,``, ``;``, tab and ``|`` (the log says when it is not a comma).
    :param encoding: the text encoding of the file input (a Python codec name: ``cp1252``,
        ``latin-1``, ``utf-16``...); default: UTF-8, or what a UTF-16/32 byte-order mark says.
    :param sql: a query whose rows are the input; column names are the source keys. Read with
        ``fetchmany``, never whole. (templated; a ``.sql`` file next to the DAG works too)
    :param sql_conn_id: the connection of any common-sql ``DbApiHook`` (SQLite, Postgres,
        Snowflake...). (templated)
    :param parameters: query parameters for ``sql``. (templated)
    :param fetch_size: rows per ``fetchmany`` for ``sql``.
    :param batch_size: rows per request, 1 to 100 (HubSpot's batch limit).
    :param max_in_flight: requests in flight at once; the hook's limiter keeps the total inside the
        app's rate budget.
    :param dry_run: read, map, validate and report what would be sent; send nothing.
    :param allow_empty: an input with no rows succeeds (normal for incremental syncs) instead of failing.
    :param rejected_path: where the rows not written go (JSON Lines, with their position, stage,
        category and reason; a path or URI); default: a per-task file under the system temp dir (per
        map index and try). A relative path is resolved against the DAG's folder; the summary holds
        the resolved path. (templated)
    :param results_path: optional; one JSON line per row written (its key and HubSpot object id).
        Relative paths as for ``rejected_path``. (templated)
    :param payloads_path: dry runs only: every payload that would be sent, one JSON line
        ``{"position", "line", "payload"}`` per valid row in input order. A path or URI, relative
        paths as for ``rejected_path``. Without it a dry run logs the first 3 payloads. (templated)
    :param hubspot_conn_id: the HubSpot connection. The token lives only there. (templated)
    :param hook_params: non-secret overrides of the connection's extras for this task, e.g.
        ``{"max_requests_per_10s": 50}``. Secrets are refused: they belong in the Connection.
    :param progress_interval: seconds between progress log lines.
    """

    #: Send full batches while the input is still read (``WriteOptions.overlap``); kinds opt in.
    overlap: bool = False

    #: Name of the inline input parameter; the file input is ``<rows_field>_file``.
    rows_field: ClassVar[str] = "rows"
    #: Names of the key's parts in the results file (the write kind's ``key_fields``).
    key_fields: ClassVar[tuple[str, ...]] = ()
    #: Log wording: "<action> from <source> in batches...", "<n> <unit> would be <done>",
    #: "HubSpot <summary_label> summary: ...".
    action: ClassVar[str] = "Writing rows"
    unit: ClassVar[str] = "row(s)"
    done: ClassVar[str] = "written"
    summary_label: ClassVar[str] = "write"
    #: Inline inputs may be JSON / JSON Lines template files, ``sql`` a ``.sql`` one.
    template_ext: Sequence[str] = (".json", ".jsonl", ".ndjson", ".sql")

    def __init__(
        self,
        *,
        file_format: str | None = None,
        delimiter: str | None = None,
        encoding: str | None = None,
        sql: str | None = None,
        sql_conn_id: str | None = None,
        parameters: Any = None,
        fetch_size: int = 1000,
        batch_size: int = MAX_BATCH_SIZE,
        max_in_flight: int = 8,
        dry_run: bool = False,
        allow_empty: bool = False,
        rejected_path: str | None = None,
        results_path: str | None = None,
        payloads_path: str | None = None,
        hubspot_conn_id: str = HubSpotHook.default_conn_name,
        hook_params: Mapping[str, Any] | None = None,
        progress_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        refuse_secrets(kwargs)
        super().__init__(**kwargs)
        # Kept as given; keep_input() checks them with the row input (DAG parse time).
        self.file_format = file_format
        self.delimiter = delimiter
        self.encoding = encoding
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.parameters = parameters
        self.fetch_size = fetch_size
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
        self.progress_interval = progress_interval

    def keep_input(self, rows: Any, rows_file: str | None) -> None:
        """Keep the subclass's row input as ``<rows_field>`` and ``<rows_field>_file``, then check
        every shared parameter at DAG parse time (``file_format`` is kept in lower case).

        A subclass calls it right after ``super().__init__``.

        :raises ValueError: as :meth:`RowInputs.checked` and :meth:`RunSettings.check` say.
        """
        setattr(self, self.rows_field, rows)
        setattr(self, f"{self.rows_field}_file", rows_file)
        self.file_format = self._inputs().checked(self.__class__.__name__).file_format
        RunSettings(
            batch_size=self.batch_size,
            max_in_flight=self.max_in_flight,
            dry_run=self.send_nothing,
            allow_empty=self.allow_empty,
            rejected_path=self.rejected_path,
            results_path=self.results_path,
            payloads_path=self.payloads_path,
            hubspot_conn_id=self.hubspot_conn_id,
            hook_params=self.hook_params,
            progress_interval=self.progress_interval,
        ).check()

    def check_mapper(self) -> None:
        """Build a mapper once to check the mapping parameters at DAG parse time (a templated one
        still holding Jinja is checked when the task runs).

        :raises ValueError: as the mapper's constructor does.
        """
        self.build_mapper(unless_jinja)

    @classmethod
    def path_fields(cls) -> tuple[str, ...]:
        """Templated paths: rendered inline even when they end in a ``template_ext``."""
        return (f"{cls.rows_field}_file", "rejected_path", "results_path", "payloads_path")

    # -- what a subclass provides -----------------------------------------------------------------

    def build_mapper(self, templated: Templated) -> RowMapper:
        """The write kind's mapper from the operator's mapping parameters, each templated one
        passed through ``templated``."""
        raise NotImplementedError

    def make_mapper(self) -> RowMapper:
        """The run's mapper (built at execute time, from rendered parameters)."""
        return self.build_mapper(as_rendered)

    def prepare_rows(
        self, rows: Iterator[SourceRow], mapper: RowMapper, options: WriteOptions
    ) -> Iterator[SourceRow]:
        """A hook on the source rows before the pipeline reads them (default: unchanged)."""
        return rows

    def write(self, call: WriteCall) -> Mapping[str, Any]:
        """Write ``call.rows`` (the core call); return extra summary keys (may be empty)."""
        raise NotImplementedError

    def run_extras(self, sending: Sending) -> RunExtras:
        """The keywords a core ``run_*`` call takes from the operator: its log and the client's
        counters and headroom."""
        return {"log": self.log, "stats": sending.stats, "headroom": sending.headroom}

    def on_summary(self, context: Context, summary: Mapping[str, Any]) -> None:
        """Called with the run's summary before it is logged and returned (default: nothing)."""

    # -- the run ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        mapper = self.make_mapper()
        options = WriteOptions(
            batch_size=self.batch_size,
            max_in_flight=self.max_in_flight,
            dry_run=self.send_nothing,
            allow_empty=self.allow_empty,
            progress_interval_s=self.progress_interval,
            source=self._source_name(),
            overlap=self.overlap,
        )
        files = ReportFiles.resolve(
            context,
            dag_folder=dag_folder(self),
            rejected_path=self.rejected_path,
            results_path=self.results_path,
            payloads_path=self.payloads_path,
        )
        sample: list[Any] = []
        with ExitStack() as stack:
            stack.enter_context(fail_task_on_permanent_errors())  # a wrong token: no Airflow retries
            source_rows = self._rows(context)
            stack.callback(_close_quietly, source_rows)
            rows = self.prepare_rows(source_rows, mapper, options)
            report = files.open_report(
                stack, dry_run=self.send_nothing, key_fields=self.key_fields, log=self.log
            )
            if self.send_nothing:
                payloads = open_writer(stack, files.payloads, self.log) if files.payloads else None
                rows = capture_payloads(rows, mapper, payloads, sample)
            extra = self._write(rows, mapper, report, options, context)
        summary: dict[str, Any] = {**report.summary(), **extra}
        self.on_summary(context, summary)
        log_summary(self.log, summary, label=self.summary_label, done=self.done)
        if self.send_nothing:
            would_send = summary.get("would_upsert")
            log_payloads(self.log, sample, files.payloads, would_send, unit=self.unit, done=self.done)
        return summary

    def _write(
        self,
        rows: Iterator[SourceRow],
        mapper: RowMapper,
        report: UpsertReport,
        options: WriteOptions,
        context: Context,
    ) -> Mapping[str, Any]:
        sending = self._sending(context)
        self.log.info(
            "%s from %s in batches of %d, %d in flight%s.",
            self.action,
            options.source,
            self.batch_size,
            self.max_in_flight,
            " (dry run: nothing is sent)" if self.send_nothing else "",
        )
        try:
            return self.write(WriteCall(rows, mapper, report, options, sending))
        except MissingSourceError as exc:  # no retry heals a configuration mistake
            raise AirflowFailException(str(exc)) from exc

    def reads_on_dry_run(self) -> bool:
        """Whether a dry run still needs the client (to read HubSpot; it sends nothing)."""
        return False

    def _sending(self, context: Context) -> Sending:
        if self.send_nothing and not self.reads_on_dry_run():
            return Sending(None, None, None)
        slots = TaskSlots(self.task_id, self.max_active_tis_per_dag, self.max_active_tis_per_dagrun)
        return open_sending(
            context,
            hubspot_conn_id=self.hubspot_conn_id,
            hook_params=self.hook_params,
            task=slots,
            log=self.log,
        )

    # -- the input (a subclass may take its rows from elsewhere, e.g. the decorator's callable) ----

    def _inputs(self) -> RowInputs:
        """The input parameters as rendered."""
        return RowInputs(
            rows_field=self.rows_field,
            rows=getattr(self, self.rows_field),
            rows_file=getattr(self, f"{self.rows_field}_file"),
            file_format=self.file_format,
            delimiter=self.delimiter,
            encoding=self.encoding,
            sql=self.sql,
            sql_conn_id=self.sql_conn_id,
            parameters=self.parameters,
            fetch_size=self.fetch_size,
        )

    def _source_name(self) -> str:
        return self._inputs().source_name()

    def _fixed_columns(self) -> bool:
        """Whether every row has the same keys (CSV header, SQL columns)."""
        return self._inputs().fixed_columns()

    def _rows(self, context: Context) -> Iterator[SourceRow]:
        """The source rows of the one input."""
        return self._inputs().read(dag_folder=dag_folder(self), log=self.log)


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
            warnings.warn(message, UserWarning, stacklevel=3)
            raise ValueError(message)


def _close_quietly(rows: Any) -> None:
    close = getattr(rows, "close", None)
    if callable(close):
        close()
