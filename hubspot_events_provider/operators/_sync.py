"""Adapter glue for the sync state: where ``state_path`` points, and Airflow's view of its errors.

``state_path`` is a templated path like the report paths: a local path (relative ones are taken
from the DAG's folder), a ``file://`` URI, or an object-storage URI. Local states publish with
write-then-rename and lock with an ``O_EXCL`` lock file; object-storage states go through
:class:`ObjectStorageStateFileSystem`, the four operations
:class:`~hubspot_events_provider.core.sync.storage.RemoteStateStorage` needs, over Airflow's
``ObjectStoragePath`` (so any filesystem a provider registers works: ``s3://``, ``gs://``...).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

from airflow.providers.common.compat.sdk import AirflowFailException

from hubspot_events_provider._storage import object_storage_path, resolve_output_path
from hubspot_events_provider.core.sync.run import MissingGuardrailError
from hubspot_events_provider.core.sync.state import EVENTS, KeyShape, StateCorruptError, SyncState
from hubspot_events_provider.core.sync.storage import LocalStateStorage, RemoteStateStorage, StateStorage

__all__ = [
    "ObjectStorageStateFileSystem",
    "open_state",
    "run_owner",
    "state_errors_fail_task",
    "state_storage",
]


class ObjectStorageStateFileSystem:
    """:class:`~hubspot_events_provider.core.sync.storage.StateFileSystem` over ``ObjectStoragePath``."""

    def open(self, location: str, mode: Literal["rb", "wb"]) -> IO[bytes]:
        """Open an object for reading or whole-object writing."""
        handle: IO[bytes] = object_storage_path(location).open(mode)
        return handle

    def exists(self, location: str) -> bool:
        """Whether the object exists."""
        return bool(object_storage_path(location).exists())

    def move(self, source: str, target: str) -> None:
        """Move an object over another (the filesystem's rename, or copy then delete)."""
        src = object_storage_path(source)
        src.fs.mv(src.path, object_storage_path(target).path)

    def remove(self, location: str) -> None:
        """Delete an object; no error when it is gone."""
        path = object_storage_path(location)
        with contextlib.suppress(FileNotFoundError):
            path.fs.rm(path.path)


def state_storage(location: str, *, dag_folder: str | None = None) -> StateStorage:
    """The storage of ``state_path``: local (relative to the DAG folder) or object storage.

    :param location: the rendered ``state_path``.
    :param dag_folder: the DAG file's folder, for relative paths.
    """
    resolved = resolve_output_path(location, dag_folder=dag_folder)
    local = resolved[len("file://") :] if resolved.startswith("file://") else resolved
    if "://" not in local:
        path = Path(local)
        path.parent.mkdir(parents=True, exist_ok=True)
        return LocalStateStorage(path)
    return RemoteStateStorage(ObjectStorageStateFileSystem(), resolved)


def open_state(
    location: str, *, dag_folder: str | None, full_refresh: bool, owner: str, shape: KeyShape = EVENTS
) -> SyncState:
    """Open and lock the sync state; a corrupt one, or one of another shape (the events' state
    given to attendance), fails the task (no retry heals it).

    A state locked by another live run raises :class:`~.state_storage.StateLockedError` unchanged:
    a retry may find it free.
    """
    storage = state_storage(location, dag_folder=dag_folder)
    try:
        return SyncState(storage, full_refresh=full_refresh, owner=owner, shape=shape)
    except StateCorruptError as exc:
        raise AirflowFailException(str(exc)) from exc


@contextlib.contextmanager
def state_errors_fail_task() -> Iterator[None]:
    """A tripped guardrail fails the task for good: rerunning the same source trips it again."""
    try:
        yield
    except MissingGuardrailError as exc:
        raise AirflowFailException(str(exc)) from exc


def run_owner(context: Any, task_id: str) -> str:
    """``dag_id/run_id/task_id[map_index]``: who holds the state's lock, in lock files and errors."""
    ti = context.get("ti") if hasattr(context, "get") else None
    dag_id = getattr(ti, "dag_id", "?")
    run_id = getattr(ti, "run_id", "?")
    map_index = getattr(ti, "map_index", -1)
    suffix = f"[{map_index}]" if isinstance(map_index, int) and map_index >= 0 else ""
    return f"{dag_id}/{run_id}/{task_id}{suffix}"
