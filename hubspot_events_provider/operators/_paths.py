"""Paths for the upsert operator: input files and report files, local or object storage.

``events_file``, ``rejected_path`` and ``results_path`` are templated *paths*. Airflow's templater
treats any templated string ending in one of the operator's ``template_ext`` (``.json``, ``.jsonl``...)
as a template file to load, which is right for ``events`` but wrong for a path: the file would be
read at parse time and its content used as the path. :class:`TemplatedPath` keeps such a value an
inline template (its ``{{ ds }}`` still renders) while never being mistaken for a template file;
:func:`inline_path_templates` applies it only while Airflow resolves or renders the fields, so the
operator (and the serialized DAG) holds plain strings and a second render stays inline too.

Relative local paths are taken from the DAG's folder, for the input and the report files alike.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hubspot_events_provider.core.errors import InputError

__all__ = [
    "InputPath",
    "TemplatedPath",
    "default_report_path",
    "inline_path_templates",
    "open_for_writing",
    "resolve_input_path",
    "resolve_output_path",
]


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


def _is_uri(location: str) -> bool:
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.isidentifier() and len(scheme) > 1


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
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        try:
            handle: IO[bytes] = ObjectStoragePath(self.location).open("rb")  # type: ignore[no-untyped-call]
        except Exception as err:  # any storage backend error becomes an input error
            raise InputError(f"cannot open the object: {err}", source=self.location) from err
        return handle


def resolve_input_path(location: str, *, dag_folder: str | None = None) -> InputPath:
    """Turn ``events_file`` into something to open; a relative path is tried next to the DAG first.

    :param location: a local path, a ``file://`` URI, or an object-storage URI.
    :param dag_folder: the DAG file's folder, for relative paths.
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
        beside_dag = Path(dag_folder) / path
        if beside_dag.exists() or not path.exists():
            path = beside_dag
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


@contextmanager
def open_for_writing(location: str) -> Iterator[IO[bytes]]:
    """Open a report file for binary writing, creating local parent folders as needed."""
    location = location.strip()
    if _is_uri(location) and not location.startswith("file://"):
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        target = ObjectStoragePath(location)
        with target.open("wb") as handle:  # type: ignore[no-untyped-call]
            yield handle
        return
    path = Path(
        location[len("file://") :] if location.startswith("file://") else os.path.expanduser(location)
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("wb")
    except OSError as err:
        raise InputError(f"cannot write the report file: {err.strerror or err}", source=str(path)) from err
    with handle:
        yield handle
