"""How a write runs: its options, the logger it writes to, and what every step of one run shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypedDict

from hubspot_events_provider.core.engine.contract import RowHooks, WriteKind
from hubspot_events_provider.core.engine.report import WriteReport

__all__ = ["MAX_BATCH_SIZE", "Logger", "RunContext", "RunExtras", "WriteOptions"]

MAX_BATCH_SIZE = 100
"""HubSpot's batch limit: "Batch operations are limited to 100 records at a time"."""


class Logger(Protocol):
    """What the pipeline needs from a logger (stdlib ``logging`` and Airflow's task logger fit)."""

    def debug(self, msg: Any, /, *args: Any) -> Any: ...

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def error(self, msg: Any, /, *args: Any) -> Any: ...


@dataclass(frozen=True)
class WriteOptions:
    """How to run a write.

    :param batch_size: rows per request, 1 to 100.
    :param max_in_flight: requests sent concurrently (threads sharing one client and limiter).
    :param dry_run: read, map, validate and report; send nothing.
    :param allow_empty: an input with no rows is a success instead of an error.
    :param progress_interval_s: seconds between progress log lines.
    :param source: a name for the input, used in error messages and carried by every row.
    :param overlap: send full batches while the input is still being read, when the kind allows it
        (``overlap_sends``: events), no state hooks are given and it is not a dry run (see
        :func:`run_writes`); the default. ``False`` reads and validates the whole input before the
        first request.
    :param overlap_hold: when overlapping, full batches read while the first one is unanswered
        wait for the pass after reading (see :class:`_Stream`); ``False`` sends each at once.
    """

    batch_size: int = MAX_BATCH_SIZE
    max_in_flight: int = 8
    dry_run: bool = False
    allow_empty: bool = False
    progress_interval_s: float = 10.0
    source: str = "input"
    overlap: bool = True
    overlap_hold: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, got {self.batch_size}")
        if not 1 <= self.max_in_flight <= 64:
            raise ValueError(f"max_in_flight must be between 1 and 64, got {self.max_in_flight}")
        if self.progress_interval_s <= 0:
            raise ValueError("progress_interval_s must be positive")


class RunExtras(TypedDict, total=False):
    """The optional keyword arguments every ``run_*`` wrapper passes through to :func:`run_writes`
    (one list, so ``run_upsert``, ``run_attendance`` and ``run_delete`` cannot drift apart)."""

    spool_dir: str | Path | None
    log: Logger | None
    stats: Callable[[], Mapping[str, int]] | None
    headroom: Callable[[], str | None] | None
    hooks: RowHooks | None


@dataclass(frozen=True)
class RunContext:
    """What every step of one run shares (the engine's modules pass it along)."""

    kind: WriteKind
    report: WriteReport
    options: WriteOptions
    logger: Logger
    hooks: RowHooks
