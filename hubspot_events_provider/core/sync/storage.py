"""Where a sync state lives, and its lock (Airflow-free; used by :mod:`.state`).

:class:`LocalStateStorage` keeps the state file on local (or mounted) disk: publishing writes a
side file in the target's directory, fsyncs it and ``os.replace``-s it over the target, so readers
and a crash see either the old or the new state. Its lock is a ``<state>.lock`` file created
exclusively (``O_EXCL``) holding owner, host, pid and time; a lock is stale when its time was not
refreshed for ``stale_after_s`` (a live holder refreshes it at every checkpoint) or when its holder
ran on this host and that process is gone. A stale lock is moved aside (and given back if a live
run replaced it in between) before a new one is created.

:class:`RemoteStateStorage` keeps it in object storage through a :class:`StateFileSystem` (four
operations the Airflow adapter provides over ObjectStoragePath/fsspec): upload a side object, then
move it over the state object. Object stores offer no portable create-if-absent, so its lock is
best effort: a ``<state>.lock`` object is written when none (or only a stale one) exists, then read
back, and the run goes on only if it reads its own token. Two runs starting within the same instant
can both win; serialise such DAGs too (``max_active_runs=1`` or a pool with one slot).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import json
import os
import shutil
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol

__all__ = [
    "DEFAULT_STALE_AFTER_S",
    "LocalStateStorage",
    "LockInfo",
    "RemoteStateStorage",
    "StateCorruptError",
    "StateError",
    "StateFileSystem",
    "StateLockedError",
    "StateStorage",
]

DEFAULT_STALE_AFTER_S = 6 * 3600.0


# -- errors ------------------------------------------------------------------------------------------


class StateError(Exception):
    """Base of sync-state errors; the message names the state's location."""


class StateCorruptError(StateError):
    """The state exists but cannot be read as a sync state (use ``full_refresh=True`` to rebuild it)."""


class StateLockedError(StateError):
    """Another run holds the state's lock.

    :param message: the sentence naming the location and the holder.
    :param holder: the lock's content.
    """

    def __init__(self, message: str, holder: LockInfo | None) -> None:
        super().__init__(message)
        self.holder = holder


# -- locks and storage -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockInfo:
    """Content of a lock: who holds it and since when.

    :param owner: free text naming the run (e.g. ``dag_id/run_id/task_id``).
    :param host: host name of the holder.
    :param pid: process id of the holder.
    :param acquired_at: ISO-8601 UTC time the lock was taken.
    :param refreshed_at: epoch seconds of the last refresh (a live holder refreshes at checkpoints).
    :param token: random id telling two holders apart.
    """

    owner: str
    host: str
    pid: int
    acquired_at: str
    refreshed_at: float
    token: str

    @classmethod
    def new(cls, owner: str) -> LockInfo:
        """A lock content for this process, taken now."""
        now = time.time()
        stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cls(owner, socket.gethostname(), os.getpid(), stamp, now, uuid.uuid4().hex)

    def to_bytes(self) -> bytes:
        """JSON encoding."""
        return json.dumps(self.__dict__, sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> LockInfo | None:
        """Decode a lock; ``None`` when it is not one of ours (e.g. half-written)."""
        try:
            raw = json.loads(data.decode("utf-8"))
            return cls(
                str(raw["owner"]),
                str(raw["host"]),
                int(raw["pid"]),
                str(raw["acquired_at"]),
                float(raw["refreshed_at"]),
                str(raw["token"]),
            )
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None

    def is_stale(self, stale_after_s: float, now: float | None = None) -> bool:
        """Whether the lock may be broken: not refreshed for ``stale_after_s``, or its holder ran on
        this host and is gone.

        :param stale_after_s: seconds without refresh after which a lock is abandoned.
        :param now: epoch seconds (default: now).
        """
        if (time.time() if now is None else now) - self.refreshed_at > stale_after_s:
            return True
        return self.host == socket.gethostname() and not _pid_alive(self.pid)

    def describe(self) -> str:
        """``owner (host pid N) since T``."""
        return f"{self.owner!r} (host {self.host}, pid {self.pid}) since {self.acquired_at}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class StateStorage(Protocol):
    """Where a state lives. :class:`LocalStateStorage` and :class:`RemoteStateStorage` implement it."""

    @property
    def location(self) -> str:
        """The path or URI, for messages."""
        ...

    def download(self, local_path: Path) -> bool:
        """Copy the state to ``local_path``; ``False`` when there is no state yet."""
        ...

    def publish(self, local_path: Path) -> None:
        """Replace the state with ``local_path`` atomically (readers see the old or the new one)."""
        ...

    def acquire_lock(self, info: LockInfo, stale_after_s: float) -> LockInfo | None:
        """Take the lock; return ``None`` on success, else the live holder's :class:`LockInfo`."""
        ...

    def refresh_lock(self, info: LockInfo) -> None:
        """Rewrite our lock with a new ``refreshed_at``."""
        ...

    def release_lock(self, info: LockInfo) -> None:
        """Remove the lock if it is still ours."""
        ...


class LocalStateStorage:
    """A state file on local (or mounted) disk, with a ``.lock`` file next to it.

    :param path: the state file's path; its directory is created when missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @property
    def location(self) -> str:
        """The state file's path."""
        return str(self.path)

    def download(self, local_path: Path) -> bool:
        """Copy the state file to ``local_path``; ``False`` when it does not exist."""
        try:
            shutil.copyfile(self.path, local_path)
        except FileNotFoundError:
            return False
        return True

    def publish(self, local_path: Path) -> None:
        """Copy to a side file in the target's directory, fsync, then ``os.replace`` it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        side = self.path.with_name(f"{self.path.name}.tmp-{uuid.uuid4().hex[:12]}")
        try:
            with open(local_path, "rb") as src, open(side, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(side, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                side.unlink()
            raise
        _fsync_dir(self.path.parent)
        # Side files of runs killed while publishing: only the lock holder publishes, so any other
        # side file left next to the state is an orphan.
        for orphan in self.path.parent.glob(glob.escape(self.path.name) + ".tmp-*"):
            with contextlib.suppress(OSError):
                orphan.unlink()

    def read_lock(self) -> LockInfo | None:
        """The current lock's content, ``None`` when there is no (readable) lock."""
        try:
            return LockInfo.from_bytes(self.lock_path.read_bytes())
        except FileNotFoundError:
            return None

    def acquire_lock(self, info: LockInfo, stale_after_s: float) -> LockInfo | None:
        """Create the lock file exclusively; break it first when it is stale."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.read_lock()
                if holder is not None and not holder.is_stale(stale_after_s):
                    return holder
                self._break(holder)
                continue
            with os.fdopen(fd, "wb") as handle:
                handle.write(info.to_bytes())
                handle.flush()
                os.fsync(handle.fileno())
            return None
        return self.read_lock() or info

    def _break(self, seen: LockInfo | None) -> None:
        """Move a stale lock aside; put it back if a live run replaced it meanwhile.

        A half-written lock (``seen is None``) is broken only when its file is older than a minute:
        its writer may still be writing it.
        """
        aside = self.lock_path.with_name(f"{self.lock_path.name}.stale-{uuid.uuid4().hex[:12]}")
        if seen is None:
            with contextlib.suppress(FileNotFoundError):
                if time.time() - self.lock_path.stat().st_mtime < 60:
                    return
        try:
            os.rename(self.lock_path, aside)
        except FileNotFoundError:
            return
        moved = LockInfo.from_bytes(aside.read_bytes())
        if moved is not None and seen is not None and moved.token != seen.token:
            # We moved a fresh lock another run took after our read: give it back.
            with contextlib.suppress(OSError):
                os.link(aside, self.lock_path)
        with contextlib.suppress(OSError):
            aside.unlink()

    def refresh_lock(self, info: LockInfo) -> None:
        """Rewrite our lock with the current time (write a side file, then rename)."""
        current = self.read_lock()
        if current is None or current.token != info.token:
            raise StateLockedError(
                f"the lock of sync state {self.location} is no longer ours "
                f"(now held by {current.describe() if current else 'nobody'}); not saving.",
                current,
            )
        fresh = LockInfo(info.owner, info.host, info.pid, info.acquired_at, time.time(), info.token)
        side = self.lock_path.with_name(f"{self.lock_path.name}.tmp-{uuid.uuid4().hex[:12]}")
        side.write_bytes(fresh.to_bytes())
        os.replace(side, self.lock_path)

    def release_lock(self, info: LockInfo) -> None:
        """Delete the lock file if it is still ours."""
        current = self.read_lock()
        if current is not None and current.token == info.token:
            with contextlib.suppress(FileNotFoundError):
                self.lock_path.unlink()


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class StateFileSystem(Protocol):
    """The four object-storage operations :class:`RemoteStateStorage` needs (the adapter wraps
    Airflow's ObjectStoragePath or an fsspec filesystem)."""

    def open(self, location: str, mode: Literal["rb", "wb"]) -> IO[bytes]:
        """Open an object for reading or (whole-object) writing."""
        ...

    def exists(self, location: str) -> bool:
        """Whether the object exists."""
        ...

    def move(self, source: str, target: str) -> None:
        """Move (rename, or copy then delete) an object over another."""
        ...

    def remove(self, location: str) -> None:
        """Delete an object; no error when it is gone."""
        ...


class RemoteStateStorage:
    """A state object in object storage: side object then move; a best-effort lock object.

    :param fs: the object-storage operations.
    :param location: the state object's URI, e.g. ``s3://bucket/sync/events.state``.
    """

    def __init__(self, fs: StateFileSystem, location: str) -> None:
        self.fs = fs
        self._location = location
        self.lock_location = location + ".lock"

    @property
    def location(self) -> str:
        """The state object's URI."""
        return self._location

    def download(self, local_path: Path) -> bool:
        """Stream the object to ``local_path``; ``False`` when it does not exist."""
        if not self.fs.exists(self._location):
            return False
        with self.fs.open(self._location, "rb") as src, open(local_path, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return True

    def publish(self, local_path: Path) -> None:
        """Upload to a side object, then move it over the state object."""
        side = f"{self._location}.tmp-{uuid.uuid4().hex[:12]}"
        try:
            with open(local_path, "rb") as src, self.fs.open(side, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            self.fs.move(side, self._location)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.remove(side)
            raise

    def read_lock(self) -> LockInfo | None:
        """The lock object's content, if any."""
        if not self.fs.exists(self.lock_location):
            return None
        with self.fs.open(self.lock_location, "rb") as handle:
            return LockInfo.from_bytes(handle.read())

    def acquire_lock(self, info: LockInfo, stale_after_s: float) -> LockInfo | None:
        """Write the lock object unless a live one exists, then read it back to confirm it is ours."""
        holder = self.read_lock()
        if holder is not None and not holder.is_stale(stale_after_s):
            return holder
        with self.fs.open(self.lock_location, "wb") as handle:
            handle.write(info.to_bytes())
        back = self.read_lock()
        if back is None or back.token != info.token:
            return back or holder or info
        return None

    def refresh_lock(self, info: LockInfo) -> None:
        """Rewrite the lock object with the current time, if it is still ours."""
        current = self.read_lock()
        if current is None or current.token != info.token:
            raise StateLockedError(
                f"the lock of sync state {self.location} is no longer ours; not saving.", current
            )
        fresh = LockInfo(info.owner, info.host, info.pid, info.acquired_at, time.time(), info.token)
        with self.fs.open(self.lock_location, "wb") as handle:
            handle.write(fresh.to_bytes())

    def release_lock(self, info: LockInfo) -> None:
        """Delete the lock object if it is still ours."""
        current = self.read_lock()
        if current is not None and current.token == info.token:
            self.fs.remove(self.lock_location)
