"""What every row-writing operator shares: one input of three, templated paths, report files, secrets.

A row-writing operator (``UpsertMarketingEventsOperator``, ``RecordMarketingEventAttendanceOperator``)
reads rows from exactly one input, hands them to a core ``run_*`` function (the write pipeline with
its write kind) with a report, and returns the report's summary. :class:`RowWriteOperator` holds
everything but the mapper and the core call:

* the inputs: ``<rows>`` (a list, an ``XComArg``, JSON / JSON Lines text, a ``.json``/``.jsonl``
  template), ``<rows>_file`` (JSON, JSON Lines, CSV with any delimiter and encoding, gzip; local or
  object storage; streamed) or ``sql`` + ``sql_conn_id`` (any common-sql connection), named per
  operator;
* templated *paths* (``<rows>_file``, ``rejected_path``, ``results_path``, ``payloads_path``)
  rendered inline even when they end in ``.json``/``.jsonl`` (see :mod:`.._storage`), relative ones
  taken from the DAG's folder;
* the rejected, results and dry-run payloads files (JSON Lines), written aside and moved into
  place only when the run completes; the HubSpot client from the connection; failures no retry can
  heal raised as ``AirflowFailException``; the summary log lines; the refusal of secrets passed as
  arguments.

A subclass sets the class attributes (:attr:`~RowWriteOperator.rows_field`, ``key_fields``,
``action``, ``unit``, ``done``, ``summary_label``, ``mapper_class``, ``mapping_parameters``;
``template_fields`` from :func:`row_template_fields`), spells its parameters out in ``__init__`` and
hands them on with ``self._init_common(locals())`` (inputs, run and mapping parameters, checked at
DAG parse time), and implements ``write`` (the core ``run_*`` call, with :meth:`run_extras`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowFailException, BaseHook, BaseOperator

from hubspot_events_provider._storage import (
    dag_folder,
    default_report_path,
    inline_path_templates,
    report_file,
    resolve_input_path,
    resolve_output_path,
)
from hubspot_events_provider.core.engine.contract import RowMapper
from hubspot_events_provider.core.engine.report import JsonLinesWriter, UpsertReport, json_default
from hubspot_events_provider.core.engine.run import RunExtras, WriteOptions
from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.kinds.events.preflight import MissingSourceError
from hubspot_events_provider.core.rows.sources import (
    SourceRow,
    check_file_options,
    detect_format,
    rows_from_cursor,
    rows_from_events,
    rows_from_file,
)
from hubspot_events_provider.hooks.failures import fail_task_on_permanent_errors
from hubspot_events_provider.hooks.hubspot import SECRET_ARGUMENTS, HubSpotHook

if TYPE_CHECKING:
    import jinja2
    from airflow.providers.common.compat.sdk import Context

    from hubspot_events_provider.core.http.client import HubSpotClient

__all__ = [
    "FILE_FORMATS",
    "SECRETS",
    "RowWriteOperator",
    "Sending",
    "dag_folder",
    "has_jinja",
    "headroom_reader",
    "materialise",
    "refuse_secrets",
    "row_renderers",
    "row_template_fields",
]

#: The hook's list of refused secret arguments (one list for hook and operators).
SECRETS = tuple(sorted(SECRET_ARGUMENTS))
FILE_FORMATS = ("json", "jsonl", "ndjson", "csv")
#: Payloads a dry run shows in the task log.
SAMPLE_PAYLOADS = 3
#: The input parameters every row-writing operator has besides ``<rows>`` and ``<rows>_file``.
_ROW_PARAMETERS = ("file_format", "delimiter", "encoding", "sql", "sql_conn_id", "parameters", "fetch_size")
#: The run parameters every row-writing operator has.
_RUN_PARAMETERS = (
    "batch_size",
    "max_in_flight",
    "dry_run",
    "allow_empty",
    "rejected_path",
    "results_path",
    "payloads_path",
    "hubspot_conn_id",
    "hook_params",
    "progress_interval",
)


@dataclass(frozen=True)
class Sending:
    """What a run sends through: the client (``None`` on a dry run) and its counters/headroom."""

    client: HubSpotClient | None
    stats: Callable[[], Mapping[str, int]] | None
    headroom: Callable[[], str | None] | None


class RowWriteOperator(BaseOperator):
    """Base of the operators that write rows to HubSpot through the write pipeline.

    The common parameters are documented on each public operator.
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
    #: The write kind's mapper, and the operator parameters handed to it by name.
    mapper_class: ClassVar[Callable[..., RowMapper]]
    mapping_parameters: ClassVar[tuple[str, ...]] = ()
    #: Inline inputs may be JSON / JSON Lines template files, ``sql`` a ``.sql`` one.
    template_ext: Sequence[str] = (".json", ".jsonl", ".ndjson", ".sql")

    def _init_common(self, arguments: Mapping[str, Any]) -> None:
        """Check and keep the shared parameters, taken by name from a subclass's ``__init__``
        arguments (its ``locals()``): each public operator spells its parameters out (signature,
        docs, Airflow's argument checks), and this is the one place they are handed on.

        :raises ValueError: at DAG parse time, as :meth:`_init_rows` and :meth:`_init_run` say.
        """
        name = self.rows_field
        self._init_rows(
            rows=arguments[name],
            rows_file=arguments[f"{name}_file"],
            **{key: arguments[key] for key in _ROW_PARAMETERS},
        )
        self._init_run(**{key: arguments[key] for key in _RUN_PARAMETERS})
        self._init_mapping(arguments)

    def _init_mapping(self, arguments: Mapping[str, Any]) -> None:
        """Keep the :attr:`mapping_parameters` and build a mapper once to check them at DAG parse
        time (a templated parameter still holding Jinja is checked when the task runs).

        :raises ValueError: as the mapper's constructor does.
        """
        values = {name: arguments[name] for name in self.mapping_parameters}
        if "ignore_fields" in values:
            values["ignore_fields"] = list(values["ignore_fields"] or [])
        templated = set(self.template_fields)
        self.mapper_class(**{n: None if n in templated and has_jinja(v) else v for n, v in values.items()})
        for name, value in values.items():
            setattr(self, name, value)

    @classmethod
    def path_fields(cls) -> tuple[str, ...]:
        """Templated paths: rendered inline even when they end in a ``template_ext``."""
        return (f"{cls.rows_field}_file", "rejected_path", "results_path", "payloads_path")

    def _init_rows(
        self,
        *,
        rows: Any,
        rows_file: str | None,
        file_format: str | None,
        delimiter: str | None,
        encoding: str | None,
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
        check_file_options(delimiter, encoding)
        if fetch_size < 1:
            raise ValueError(f"fetch_size must be at least 1, got {fetch_size}.")
        setattr(self, name, rows)
        setattr(self, f"{name}_file", rows_file)
        self.file_format = file_format.lower() if file_format else None
        self.delimiter = delimiter
        self.encoding = encoding
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
        payloads_path: str | None,
        hubspot_conn_id: str,
        hook_params: Mapping[str, Any] | None,
        progress_interval: float,
    ) -> None:
        """Check and keep how to run (raises ``ValueError`` at DAG parse time)."""
        if payloads_path is not None and not dry_run:
            raise ValueError("payloads_path is written by dry runs only: pass dry_run=True with it.")
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
        self.payloads_path = payloads_path
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

    # -- what a subclass provides -----------------------------------------------------------------

    def make_mapper(self) -> RowMapper:
        """The run's mapper (built at execute time, from rendered parameters)."""
        return self.mapper_class(**{name: getattr(self, name) for name in self.mapping_parameters})

    def prepare_rows(
        self, rows: Iterator[SourceRow], mapper: RowMapper, options: WriteOptions
    ) -> Iterator[SourceRow]:
        """A hook on the source rows before the pipeline reads them (default: unchanged)."""
        return rows

    def write(
        self,
        rows: Iterator[SourceRow],
        mapper: RowMapper,
        report: UpsertReport,
        options: WriteOptions,
        sending: Sending,
    ) -> Mapping[str, Any]:
        """Write ``rows`` (the core call); return extra summary keys (may be empty)."""
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
            rows = self.prepare_rows(source_rows, mapper, options)
            report = UpsertReport(
                dry_run=self.send_nothing,
                rejected=writer(rejected_location),
                results=writer(results_location) if results_location else None,
                rejected_path=rejected_location,
                results_path=results_location,
                key_fields=self.key_fields,
            )
            if self.send_nothing:
                payloads = writer(payloads_location) if payloads_location else None
                rows = _capture_payloads(rows, mapper, payloads, sample)
            extra = self._write(rows, mapper, report, options, context)
        summary: dict[str, Any] = {**report.summary(), **extra}
        self.on_summary(context, summary)
        self._log_summary(summary)
        if self.send_nothing:
            self._log_payloads(sample, payloads_location, summary.get("would_upsert"))
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
            return self.write(rows, mapper, report, options, sending)
        except MissingSourceError as exc:  # no retry heals a configuration mistake
            raise AirflowFailException(str(exc)) from exc

    def _sending(self, context: Context) -> Sending:
        if self.send_nothing:
            return Sending(None, None, None)
        hook = HubSpotHook(hubspot_conn_id=self.hubspot_conn_id, **self.hook_params)
        detected = None
        if hook.build_config().budget_sharers is None:  # neither the Connection nor hook_params
            detected = self._mapped_sharers(context)
            if detected is not None:
                hook.overrides["budget_sharers"] = detected  # before the client is built
        client = hook.get_conn()
        self._log_sharers(client, detected=detected is not None)
        return Sending(client, client.stats.snapshot, headroom_reader(client))

    def _log_sharers(self, client: HubSpotClient, *, detected: bool) -> None:
        """Say how many tasks the limiter shares the budget with, as the limiter itself holds it."""
        sharers = client.limiter.state.sharers
        if sharers < 1:  # unknown: the limiter learns it from HubSpot's headers
            return
        if detected:
            self.log.info(
                "Sharing the app's rate budget with %d mapped tasks (budget_sharers=%d; set it in "
                "hook_params when a pool runs fewer at once)",
                sharers,
                sharers,
            )
        else:
            self.log.info(
                "Sharing the app's rate budget with %d tasks (budget_sharers=%d, set on the connection "
                "or in hook_params)",
                sharers,
                sharers,
            )

    def _mapped_sharers(self, context: Context) -> int | None:
        """How many instances of this mapped task share the app's rate budget: the map's length in
        this run, capped by ``max_active_tis_per_dag`` / ``max_active_tis_per_dagrun`` when set.

        :returns: ``None`` for an unmapped task, or when the count cannot be read (an old API
            server, no supervisor): the limiter then learns it from HubSpot's headers, so a failure
            here never fails the task.
        """
        ti = context.get("ti")  # absent when execute() is called by hand
        if ti is None or getattr(ti, "map_index", -1) < 0:
            return None
        try:
            where: dict[str, Any] = {"dag_id": ti.dag_id, "task_ids": [ti.task_id], "run_ids": [ti.run_id]}
            # Instances a shorter map left "removed" (a cleared run whose input shrank) never run.
            count = int(ti.get_ti_count(**where)) - int(ti.get_ti_count(**where, states=["removed"]))
        except Exception as exc:  # noqa: BLE001 (a hint only; never fail the task over it)
            self.log.debug(
                "Could not count the mapped instances of %s (%r); budget_sharers left unset.",
                self.task_id,
                exc,
            )
            return None
        caps = (self.max_active_tis_per_dag, self.max_active_tis_per_dagrun)
        sharers = min([count, *(cap for cap in caps if cap is not None and cap >= 1)])
        return sharers if sharers >= 1 else None

    def _report_locations(self, context: Context) -> tuple[str, str | None, str | None]:
        """Where the rejected, results and payloads files go (relative paths: the DAG folder)."""
        folder = dag_folder(self)

        def resolved(value: str | None) -> str | None:
            return resolve_output_path(str(value), dag_folder=folder) if value else None

        rejected = resolved(self.rejected_path) or default_report_path(context, "rejected")
        return rejected, resolved(self.results_path), resolved(self.payloads_path)

    def _log_partial(self, location: str, kept: str) -> None:
        self.log.error(
            "The run failed: %s was left as it was (an earlier run's report, if any, is intact); "
            "what this run recorded before failing is in %s",
            location,
            kept,
        )

    def _log_payloads(self, sample: list[Any], location: str | None, would_send: Any) -> None:
        if location:
            self.log.info("Dry run: every payload that would be sent is in %s", location)
        if not sample:
            self.log.info("Dry run: no valid row, so no payload would be sent.")
            return
        self.log.info(
            "Dry run: %d %s would be %s; the first %d payload(s):",
            would_send or 0,
            self.unit,
            self.done,
            len(sample),
        )
        for payload in sample:
            self.log.info("  %s", json.dumps(payload, ensure_ascii=False, default=json_default))

    # -- inputs -------------------------------------------------------------------------------

    def _source_name(self) -> str:
        name = f"{self.rows_field}_file"
        if getattr(self, name) is not None:
            return f"{name} {str(getattr(self, name))!r}"
        if self.sql is not None:
            return f"sql on connection {self.sql_conn_id!r}"
        return self.rows_field

    def _fixed_columns(self) -> bool:
        """Whether every row has the same keys (CSV header, SQL columns)."""
        if self.sql is not None:
            return True
        path = getattr(self, f"{self.rows_field}_file")
        if path is None:
            return False
        try:
            return detect_format(str(path), self.file_format) == "csv"
        except InputError:
            return False  # reading the file reports the unknown format

    def _rows(self, context: Context) -> Iterator[SourceRow]:
        """The source rows of the one input (a subclass may take them from elsewhere, e.g. the
        ``@task.hubspot_marketing_events`` decorator from its callable)."""
        inline, given = getattr(self, self.rows_field), getattr(self, f"{self.rows_field}_file")
        if inline is not None:
            return rows_from_events(materialise(inline), source=self.rows_field)
        if given is not None:
            folder = dag_folder(self)
            path = resolve_input_path(str(given), dag_folder=folder)
            self._log_input_path(str(given), path.display, folder)
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
        name = f"{self.rows_field}_file"
        if given.strip() == resolved:
            self.log.info("Reading %s %s", name, resolved)
        elif folder and not _is_absolute_or_uri(given):
            self.log.info("Reading %s %s (%r taken from the DAG folder %s)", name, resolved, given, folder)
        else:
            self.log.info("Reading %s %s (given as %r)", name, resolved, given)

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
            "HubSpot %s summary: total=%s %s=%s rejected=%s failed=%s superseded=%s "
            "numErrors=%s error_rate=%.4f requests=%s retries=%s rate_limited=%s dry_run=%s",
            self.summary_label,
            summary.get("total"),
            self.done,
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
                "%s rows were not %s (by category: %s). Every one of them, with its reason, is in %s",
                summary.get("numErrors"),
                self.done,
                summary.get("errors_by_category"),
                summary.get("rejected_path"),
            )
            for sample in summary.get("sample_errors") or []:
                self.log.warning("  %s", sample)


def row_template_fields(rows_field: str, *mapping: str) -> tuple[str, ...]:
    """A row-writing operator's ``template_fields``: its inputs, ``mapping`` (its own mapping
    parameters), the report paths and the connections, in one order for every operator."""
    inputs = (rows_field, f"{rows_field}_file", "sql", "parameters")
    return (
        *inputs,
        *mapping,
        "rejected_path",
        "results_path",
        "payloads_path",
        "hubspot_conn_id",
        "sql_conn_id",
    )


def row_renderers(rows_field: str) -> dict[str, str]:
    """A row-writing operator's ``template_fields_renderers``."""
    return {rows_field: "json", "sql": "sql", "field_map": "json", "defaults": "json"}


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


def _capture_payloads(
    rows: Iterable[SourceRow], mapper: RowMapper, writer: JsonLinesWriter | None, sample: list[Any]
) -> Iterator[SourceRow]:
    """Pass rows through; write (and sample) the payload each valid row would be sent as (dry runs)."""
    for row in rows:
        if isinstance(row.data, Mapping):
            payload = mapper.map_row(row.data).payload
            if payload is not None:
                if writer is not None:
                    writer.write({"position": row.position, "line": row.line, "payload": payload})
                if len(sample) < SAMPLE_PAYLOADS:
                    sample.append(payload)
        yield row


def _close_quietly(rows: Any) -> None:
    close = getattr(rows, "close", None)
    if callable(close):
        close()


def _is_absolute_or_uri(location: str) -> bool:
    location = location.strip()
    return "://" in location or os.path.isabs(os.path.expanduser(location))
