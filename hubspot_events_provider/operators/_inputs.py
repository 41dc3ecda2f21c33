"""The one input of a row-writing operator: ``<rows>`` (a list, an ``XComArg``, JSON / JSON Lines
text), ``<rows>_file`` (JSON, JSON Lines, CSV; local or object storage; streamed) or ``sql`` +
``sql_conn_id`` (any common-sql connection): checked at DAG parse time, opened and read at run time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import IO, Any

from airflow.providers.common.compat.sdk import BaseHook

from hubspot_events_provider._storage import resolve_input_path
from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.rows.sources import (
    SourceRow,
    check_file_options,
    detect_format,
    rows_from_cursor,
    rows_from_events,
    rows_from_file,
)
from hubspot_events_provider.core.sync.run import SyncLogger as Logger

__all__ = ["FILE_FORMATS", "RowInputs", "materialise"]

FILE_FORMATS = ("json", "jsonl", "ndjson", "csv")


@dataclass(frozen=True)
class RowInputs:
    """The input parameters of a row-writing operator (``rows_field`` names its inline input;
    the file input is ``<rows_field>_file``)."""

    rows_field: str
    rows: Any
    rows_file: str | None
    file_format: str | None
    delimiter: str | None
    encoding: str | None
    sql: str | None
    sql_conn_id: str | None
    parameters: Any
    fetch_size: int

    def checked(self, operator: str) -> RowInputs:
        """These inputs, ``file_format`` in lower case, once checked at DAG parse time.

        :param operator: the operator's class name, for the message.
        :raises ValueError: not exactly one input; ``sql`` without ``sql_conn_id``; an unknown
            ``file_format``; a bad ``delimiter`` or ``encoding``; ``fetch_size`` below 1.
        """
        name = self.rows_field
        candidates = ((name, self.rows), (f"{name}_file", self.rows_file), ("sql", self.sql))
        given = [n for n, v in candidates if v is not None]
        if len(given) != 1:
            raise ValueError(
                f"{operator} needs exactly one input of {name}, {name}_file or sql; "
                f"got {', '.join(given) if given else 'none'}."
            )
        if self.sql is not None and not self.sql_conn_id:
            raise ValueError("sql needs sql_conn_id: the connection of the warehouse to query.")
        file_format = self.file_format
        if file_format is not None and file_format.lower() not in FILE_FORMATS:
            raise ValueError(f"file_format must be one of {', '.join(FILE_FORMATS)}; got {file_format!r}.")
        check_file_options(self.delimiter, self.encoding)
        if self.fetch_size < 1:
            raise ValueError(f"fetch_size must be at least 1, got {self.fetch_size}.")
        return replace(self, file_format=file_format.lower() if file_format else None)

    def source_name(self) -> str:
        """The input as the log and the summary name it."""
        if self.rows_file is not None:
            return f"{self.rows_field}_file {str(self.rows_file)!r}"
        if self.sql is not None:
            return f"sql on connection {self.sql_conn_id!r}"
        return self.rows_field

    def fixed_columns(self) -> bool:
        """Whether every row has the same keys (CSV header, SQL columns)."""
        if self.sql is not None:
            return True
        if self.rows_file is None:
            return False
        try:
            return detect_format(str(self.rows_file), self.file_format) == "csv"
        except InputError:
            return False  # reading the file reports the unknown format

    def read(self, *, dag_folder: str | None, log: Logger) -> Iterator[SourceRow]:
        """The source rows of the one input (streamed; relative file paths: the DAG's folder)."""
        if self.rows is not None:
            return rows_from_events(materialise(self.rows), source=self.rows_field)
        if self.rows_file is not None:
            path = resolve_input_path(str(self.rows_file), dag_folder=dag_folder)
            self._log_input_path(log, str(self.rows_file), path.display, dag_folder)
            opener: Callable[[], IO[bytes]] = path.open_binary
            return rows_from_file(
                opener,
                name=path.display,
                file_format=self.file_format,
                delimiter=self.delimiter,
                encoding=self.encoding,
                on_detect=log.info,
            )
        return self._sql_rows()

    def _log_input_path(self, log: Logger, given: str, resolved: str, folder: str | None) -> None:
        name = f"{self.rows_field}_file"
        if given.strip() == resolved:
            log.info("Reading %s %s", name, resolved)
        elif folder and not _is_absolute_or_uri(given):
            log.info("Reading %s %s (%r taken from the DAG folder %s)", name, resolved, given, folder)
        else:
            log.info("Reading %s %s (given as %r)", name, resolved, given)

    def _sql_rows(self) -> Iterator[SourceRow]:
        hook = BaseHook.get_connection(str(self.sql_conn_id)).get_hook()  # type: ignore[no-untyped-call]
        if not hasattr(hook, "get_conn"):
            raise InputError(
                f"connection {self.sql_conn_id!r} has no DB-API hook; sql needs a common-sql connection"
            )
        conn = hook.get_conn()
        try:
            cursor = conn.cursor()
            try:
                if self.parameters is not None:
                    cursor.execute(self.sql, self.parameters)
                else:
                    cursor.execute(self.sql)
                yield from rows_from_cursor(cursor, source=self.source_name(), fetch_size=self.fetch_size)
            finally:
                cursor.close()
        finally:
            conn.close()


def materialise(rows: Any) -> Any:
    """XCom results may be lazy sequences (mapped pulls); give the reader a list or the string."""
    if isinstance(rows, str | bytes | Mapping | list):
        return rows
    if isinstance(rows, Sequence) or hasattr(rows, "__iter__"):
        return list(rows)
    return rows


def _is_absolute_or_uri(location: str) -> bool:
    location = location.strip()
    return "://" in location or os.path.isabs(os.path.expanduser(location))
