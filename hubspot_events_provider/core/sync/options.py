"""What a sync run is told (:class:`SyncOptions`), may log to (:class:`SyncLogger`) and may raise
(:class:`MissingGuardrailError`); :mod:`.run` re-exports them with :func:`~.run.run_sync`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from hubspot_events_provider.core.engine.run import Logger
from hubspot_events_provider.core.sync.guardrails import DeleteDecision, decide_missing
from hubspot_events_provider.core.sync.storage import StateError

__all__ = ["MissingGuardrailError", "OnMissing", "SyncLogger", "SyncOptions"]

OnMissing = Literal["ignore", "cancel", "delete"]


class SyncLogger(Logger, Protocol):
    """The pipeline's logger, plus warnings (stdlib ``logging`` and Airflow's task logger fit)."""

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


class MissingGuardrailError(StateError):
    """A guardrail stopped the run before anything was sent (too many events left the source).

    :param decision: the guardrail's decision, with the counts.
    """

    def __init__(self, message: str, decision: DeleteDecision) -> None:
        super().__init__(message)
        self.decision = decision


@dataclass(frozen=True)
class SyncOptions:
    """What to do beyond sending changed rows.

    :param on_missing: ``ignore``, ``cancel`` or ``delete`` the known events of the run's accounts
        that are no longer in the source.
    :param max_deletes: most events one run may cancel or delete (``None``: no count limit).
    :param max_delete_fraction: most events one run may cancel or delete, as a fraction of the known
        events of the run's accounts (default 0.1; ``None``: no fraction limit).
    :param checkpoint_interval_s: publish confirmed outcomes at least this often during long runs.
    """

    on_missing: OnMissing = "ignore"
    max_deletes: int | None = None
    max_delete_fraction: float | None = 0.1
    checkpoint_interval_s: float = 300.0

    def __post_init__(self) -> None:
        # decide_missing validates the action and the limits; fail at construction, not mid-run.
        decide_missing(
            action=self.on_missing,
            missing=0,
            known=0,
            source_keys=0,
            max_deletes=self.max_deletes,
            max_delete_fraction=self.max_delete_fraction,
        )
        if self.checkpoint_interval_s <= 0:
            raise ValueError("checkpoint_interval_s must be positive")
