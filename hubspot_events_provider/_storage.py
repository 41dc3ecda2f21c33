"""Storage for the adapters (operators and sensor): input files and report files, local or object storage.

``events_file``, ``rejected_path`` and ``results_path`` are templated *paths*. Airflow's templater
treats any templated string ending in one of the operator's ``template_ext`` (``.json``, ``.jsonl``...)
as a template file to load, which is right for ``events`` but wrong for a path: the file would be
read at parse time and its content used as the path. :class:`TemplatedPath` keeps such a value an
inline template (its ``{{ ds }}`` still renders) while never being mistaken for a template file;
:func:`inline_path_templates` applies it only while Airflow resolves or renders the fields, so the
operator (and the serialized DAG) holds plain strings and a second render stays inline too.

Relative local paths are taken from the DAG's folder, for the input and the report files alike
(never from the worker's current directory, which is no stable place).

Report files are written aside and moved into place only when the run completes
(:func:`report_file`), so a run that fails never destroys an earlier run's reports. Reading
(:func:`read_json_lines`) goes through the core's readers: gzip by magic bytes, a UTF-8 BOM, line
numbers in errors.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hubspot_events_provider.core.errors import InputError
from hubspot_events_provider.core.rows.sources import SourceRow, rows_from_file

__all__ = [
    "STORAGE_EXTRAS",
    "InputPath",
    "TemplatedPath",
    "dag_folder",
    "default_report_path",
    "inline_path_templates",
    "object_storage_path",
    "open_for_writing",
    "partial_report_path",
    "read_json_lines",
    "report_file",
    "resolve_input_path",
    "resolve_output_path",
]

_log = logging.getLogger(__name__)

#: URI scheme -> (this package's extra, the Airflow provider that registers the filesystem).
STORAGE_EXTRAS: dict[str, tuple[str, str]] = {
    "s3": ("s3", "apache-airflow-providers-amazon"),
    "s3a": ("s3", "apache-airflow-providers-amazon"),
    "gs": ("gcs", "apache-airflow-providers-google"),
    "gcs": ("gcs", "apache-airflow-providers-google"),
    "abfs": ("azure", "apache-airflow-providers-microsoft-azure"),
    "abfss": ("azure", "apache-airflow-providers-microsoft-azure"),
    "adl": ("azure", "apache-airflow-providers-microsoft-azure"),
    "az": ("azure", "apache-airflow-providers-microsoft-azure"),
    "wasb": ("azure", "apache-airflow-providers-microsoft-azure"),
}
_PACKAGE = "airflow-provider-hubspot-events"


class TemplatedPath(str):
    """A templated path that Airflow renders inline, never as a template file.

    Airflow checks ``value.endswith(tuple(template_ext))`` to decide whether a string names a
    template file; for this type that check (a tuple argument) is always false. Every other use
    behaves as a plain ``str``, and the rendered value is a plain ``str`` again.
    """

    __slots__ = ()

    def endswith(self, suffix: str | tuple[str, ...], *args: Any) -> bool:
        if isinstance(suffix, tuple):
            return False
        return str.endswith(self, suffix, *args)

    @classmethod
    def wrap(cls, value: Any) -> Any:
        """Wrap a plain string; leave ``None``, XComArgs and other objects alone."""
        return cls(value) if isinstance(value, str) and not isinstance(value, cls) else value


@contextmanager
def inline_path_templates(
    target: Any, names: Iterable[str], seen_oids: set[int] | None = None
) -> Iterator[None]:
    """Within the block, the string attributes ``names`` of ``target`` are :class:`TemplatedPath`.

    Use around Airflow's ``resolve_template_files`` / ``_do_render_template_fields``: those skip
    or inline-render the paths instead of loading them as template files. Outside the block the
    attributes are plain ``str`` again (rendered or not): a serialized DAG must hold plain
    strings only (the dag-processor sends it over msgpack, which refuses ``str`` subclasses).

    :param target: the operator (or unmapped operator) whose attributes are wrapped.
    :param names: attribute names, e.g. ``("events_file", "rejected_path", "results_path")``.
    :param seen_oids: ids of values Airflow will not render (resolved mapped XComs): left alone.
    """
    wrapped = []
    for name in names:
        value = getattr(target, name, None)
        if isinstance(value, str) and not (seen_oids and id(value) in seen_oids):
            setattr(target, name, TemplatedPath(value))
            wrapped.append(name)
    try:
        yield
    finally:
        for name in wrapped:
            value = getattr(target, name, None)
            if isinstance(value, TemplatedPath):
                setattr(target, name, str(value))  # str() of a str subclass is a plain str


def default_report_path(context: Any, kind: str) -> str:
    """A per-task report file under the system temp dir: dag / run / task, map index and try.

    :param context: the task context (its ``ti``); an empty mapping gives generic names.
    :param kind: ``rejected`` or ``results``.
    """
    ti = context.get("ti") if hasattr(context, "get") else None
    dag_id = getattr(ti, "dag_id", None) or "dag"
    task_id = getattr(ti, "task_id", None) or "task"
    run_id = getattr(ti, "run_id", None) or "run"
    map_index = getattr(ti, "map_index", -1)
    try_number = getattr(ti, "try_number", None)
    suffix = f"_{map_index}" if isinstance(map_index, int) and map_index >= 0 else ""
    attempt = f".try{try_number}" if isinstance(try_number, int) else ""
    safe_run = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(run_id))
    folder = Path(tempfile.gettempdir()) / "hubspot-events" / str(dag_id) / safe_run
    return str(folder / f"{task_id}{suffix}{attempt}.{kind}.jsonl")


def dag_folder(operator: Any) -> str | None:
    """The DAG file's folder, or ``None`` for an operator outside any DAG (``.dag`` would raise).

    :param operator: an operator or sensor.
    """
    try:
        dag = operator.dag
    except RuntimeError:  # "has not been assigned to a Dag yet" (Airflow 3.1+); older: None
        return None
    folder = getattr(dag, "folder", None) if dag is not None else None
    return str(folder) if folder else None


def _is_uri(location: str) -> bool:
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.isidentifier() and len(scheme) > 1


def _scheme(location: str) -> str:
    return location.partition("://")[0].lower()


def _missing_filesystem(location: str, err: Exception) -> InputError | None:
    """Airflow's "No filesystem registered for scheme s3", with the package that registers it."""
    # Airflow: a scheme no installed provider registers; fsspec/universal_pathlib: one it does not know.
    if "No filesystem registered for scheme" not in str(err) and "Unsupported filesystem" not in str(err):
        return None
    scheme = _scheme(location)
    extra, provider = STORAGE_EXTRAS.get(scheme, (None, None))
    if provider is None:
        hint = "install the Airflow provider that registers this filesystem"
    else:
        hint = f"install {provider} (pip install '{_PACKAGE}[{extra}]')"
    return InputError(f"no filesystem is registered for {scheme}:// URIs; {hint}", source=location)


def object_storage_path(location: str) -> Any:
    """An ``ObjectStoragePath`` for a URI; a scheme with no filesystem names the provider to install.

    :param location: an object-storage URI (``s3://bucket/key``...).
    :raises InputError: no filesystem is registered for the scheme.
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    try:
        path = ObjectStoragePath(location)
        path.fs  # noqa: B018 - resolving the filesystem is what fails for an unknown scheme
    except ValueError as err:
        missing = _missing_filesystem(location, err)
        if missing is not None:
            raise missing from None
        raise
    return path


@dataclass(frozen=True)
class InputPath:
    """An input file, local or in object storage, that can be opened for binary reading."""

    location: str
    local: Path | None

    @property
    def display(self) -> str:
        return str(self.local) if self.local is not None else self.location

    def open_binary(self) -> IO[bytes]:
        if self.local is not None:
            try:
                return self.local.open("rb")
            except OSError as err:
                raise InputError(f"cannot open the file: {err.strerror or err}", source=self.display) from err
        path = object_storage_path(self.location)
        try:
            handle: IO[bytes] = path.open("rb")
        except Exception as err:  # any storage backend error becomes an input error
            raise InputError(f"cannot open the object: {err}", source=self.location) from err
        return handle


def resolve_input_path(location: str, *, dag_folder: str | None = None) -> InputPath:
    """Turn ``events_file`` into something to open; a relative path is taken from the DAG's folder.

    Only from the DAG's folder, never from the current directory: a worker's current directory
    differs between executors, so a fallback there would read a different file on each.

    :param location: a local path, a ``file://`` URI, or an object-storage URI.
    :param dag_folder: the DAG file's folder, for relative paths (``None``: outside a DAG, a relative
        path stays relative to the current directory).
    """
    location = location.strip()
    if not location:
        raise InputError("events_file rendered to an empty path", source="events_file")
    if location.startswith("file://"):
        return InputPath(location, Path(location[len("file://") :]))
    if _is_uri(location):
        return InputPath(location, None)
    path = Path(os.path.expanduser(location))
    if not path.is_absolute() and dag_folder:
        path = Path(dag_folder) / path
    return InputPath(location, path)


def resolve_output_path(location: str, *, dag_folder: str | None = None) -> str:
    """Where a report file goes: a relative local path is taken from the DAG's folder.

    The same rule as for ``events_file``, so ``events_file="data/in.jsonl"`` with
    ``rejected_path="data/in.rejected.jsonl"`` keeps the rejected rows next to the input. (The
    worker's current directory is no stable place.) URIs and absolute paths are left as given.

    :param location: a local path, a ``file://`` URI or an object-storage URI.
    :param dag_folder: the DAG file's folder; ``None`` leaves a relative path relative.
    :raises InputError: an empty location.
    """
    location = location.strip()
    if not location:
        raise InputError("the report path rendered to an empty string", source="rejected_path/results_path")
    if _is_uri(location):
        return location
    path = Path(os.path.expanduser(location))
    if not path.is_absolute() and dag_folder:
        path = Path(dag_folder) / path
    return str(path)


def _local_path(location: str) -> Path | None:
    """The local path of a location, or ``None`` for an object-storage URI."""
    if _is_uri(location) and not location.startswith("file://"):
        return None
    return Path(
        location[len("file://") :] if location.startswith("file://") else os.path.expanduser(location)
    )


@contextmanager
def open_for_writing(location: str) -> Iterator[IO[bytes]]:
    """Open a file for binary writing in place, creating local parent folders as needed.

    Report files use :func:`report_file` instead, which never truncates the previous file.
    """
    location = location.strip()
    path = _local_path(location)
    if path is None:
        with object_storage_path(location).open("wb") as handle:
            yield handle
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("wb")
    except OSError as err:
        raise InputError(f"cannot write the report file: {err.strerror or err}", source=str(path)) from err
    with handle:
        yield handle


def partial_report_path(location: str, stamp: str | None = None) -> str:
    """Where a failed run keeps its report: beside ``location``, ``.partial-<UTC time>`` before the suffix.

    ``out/day.rejected.jsonl`` -> ``out/day.rejected.partial-20260101T120000Z.jsonl``.

    :param location: the report's path or URI.
    :param stamp: the time stamp (default: now, UTC).
    """
    stamp = stamp or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder, sep, name = location.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, suffix = name, ""
    return f"{folder}{sep}{stem}.partial-{stamp}{'.' + suffix if suffix else ''}"


class _AsideFile:
    """A report written beside its final place and moved there only on success."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.local = _local_path(location)
        token = uuid.uuid4().hex[:12]
        self.handle: IO[bytes]
        if self.local is not None:
            # Same folder as the target, so os.replace is an atomic rename; "x" mode and the
            # process umask give the file the permissions a plain open() would.
            self.aside: Any = self.local.parent / f".{self.local.name}.{token}.part"
            try:
                self.local.parent.mkdir(parents=True, exist_ok=True)
                self.handle = self.aside.open("xb")
            except OSError as err:
                raise InputError(
                    f"cannot write the report file: {err.strerror or err}", source=str(self.local)
                ) from err
        else:
            self.aside = object_storage_path(f"{location}.part-{token}")
            self.handle = self.aside.open("wb")
        self._token = token

    def _size(self) -> int:
        try:
            info = self.aside.stat()
            size = getattr(info, "st_size", None)
            return int(size if size is not None else info["size"])
        except (OSError, KeyError, TypeError, ValueError):
            return 0

    def _exists(self, location: str) -> bool:
        try:
            return bool(
                Path(location).exists() if self.local is not None else object_storage_path(location).exists()
            )
        except Exception:  # noqa: BLE001 - unknown: keep the name unique anyway
            return True

    def commit(self) -> None:
        """Close and move the finished report into place (atomic on a local disk)."""
        self.handle.close()
        if self.local is not None:
            os.replace(self.aside, self.local)
        else:
            self.aside.move(object_storage_path(self.location))

    def abandon(self) -> str | None:
        """Close; keep a non-empty report beside the target; return where, or ``None`` (discarded)."""
        try:
            self.handle.close()
        except Exception:  # noqa: BLE001 - a failing close must not hide the run's own error
            _log.debug("closing %s failed", self.aside, exc_info=True)
        try:
            if self._size() == 0:
                self.aside.unlink()
                return None
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            kept = partial_report_path(self.location, stamp)
            if self._exists(kept):  # a second failure within the same second
                kept = partial_report_path(self.location, f"{stamp}-{self._token[:6]}")
            if self.local is not None:
                os.replace(self.aside, kept)
            else:
                self.aside.move(object_storage_path(kept))
            return kept
        except Exception:  # noqa: BLE001 - the run's own error matters more than this clean-up
            _log.warning("could not keep the partial report %s", self.aside, exc_info=True)
            return str(self.aside)


@contextmanager
def report_file(
    location: str, *, on_partial: Callable[[str, str], None] | None = None
) -> Iterator[IO[bytes]]:
    """Write a report file aside; move it into place only when the block completes.

    A block that raises leaves ``location`` as it was (an earlier run's complete report stays
    intact). What the failed run wrote is kept beside it (:func:`partial_report_path`) when it is
    not empty, and ``on_partial(location, kept)`` is called so the caller can say where.

    :param location: the final path or URI.
    :param on_partial: told ``(location, where the partial report is)`` on failure.
    """
    aside = _AsideFile(location.strip())
    try:
        yield aside.handle
    except BaseException:
        kept = aside.abandon()
        if kept is not None and on_partial is not None:
            on_partial(location, kept)
        raise
    aside.commit()


def read_json_lines(location: str, *, dag_folder: str | None = None) -> Iterator[SourceRow]:
    """Stream a JSON Lines file (local or object storage, gzip by magic bytes) with the core's reader.

    :param location: a path or URI; relative paths are taken from ``dag_folder``.
    :param dag_folder: the DAG file's folder.
    :raises InputError: unreadable, not gzip/UTF-8/JSON Lines (with the line number).
    """
    path = resolve_input_path(location, dag_folder=dag_folder)
    return rows_from_file(path.open_binary, name=path.display, file_format="jsonl")
