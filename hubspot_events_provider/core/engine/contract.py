"""What the write pipeline needs from a write kind, and the seam a sync state plugs into.

The pipeline (:mod:`~hubspot_events_provider.core.engine.run`) reads, validates, de-duplicates,
groups, sends and reports rows of ANY batch write whose rows HubSpot answers one by one. A
:class:`WriteKind` supplies only what is specific to one kind of write: its mapper (row -> payload,
errors, key), how rows are grouped into requests (and in which order the groups go), the call that
sends one request, and how HubSpot's answer maps back to rows. Events
(:class:`~hubspot_events_provider.core.kinds.events.kind.EventKind`) are the first kind; participations and
deletes follow the same shape.

:class:`RowHooks` lets a state store (change detection) skip rows HubSpot already holds and learn
which rows HubSpot confirmed or refused, without the pipeline knowing anything about state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from hubspot_events_provider.core.errors import HubSpotError
from hubspot_events_provider.core.http.protocol import HubSpotApi
from hubspot_events_provider.core.rows.identity import Key, WriteItem

__all__ = [
    "Answer",
    "Mapped",
    "Problem",
    "Refusal",
    "Route",
    "RowHooks",
    "RowMapper",
    "Wording",
    "WriteKind",
    "WriteKindBase",
]


class Problem(Protocol):
    """One problem with one row (:class:`~hubspot_events_provider.core.kinds.events.mapper.RowError` fits)."""

    @property
    def field(self) -> str | None: ...

    @property
    def category(self) -> str: ...

    @property
    def message(self) -> str: ...


class Mapped(Protocol):
    """A mapped row: the payload (``None`` when invalid), its problems and its key (``None`` when
    the ids themselves are invalid).
    :class:`~hubspot_events_provider.core.kinds.events.mapper.MappedRow` fits."""

    @property
    def payload(self) -> Mapping[str, Any] | None: ...

    @property
    def errors(self) -> Sequence[Problem]: ...

    @property
    def key(self) -> Key | None: ...


class RowMapper(Protocol):
    """Turns source rows into payloads and refuses unmapped source keys (``EventMapper`` fits)."""

    def map_row(self, row: Any) -> Mapped: ...

    def unmapped_keys(self, keys: Iterable[Any]) -> set[str]: ...

    def unmapped_error(
        self, keys: Iterable[Any], *, source: str | None = None, line: int | None = None
    ) -> Exception: ...


class Answer(Protocol):
    """HubSpot's answer to one request (``HubSpotResponse`` fits): its JSON body."""

    @property
    def body(self) -> Any: ...


class Route(NamedTuple):
    """Where a row goes: its request ``group`` (rows of one request share it; the send call gets
    it, e.g. to build the path) and its ``phase`` (all rows of a lower phase are answered before any
    row of a higher phase is sent: register before attend before cancel)."""

    group: Key = ()
    phase: int = 0


class Refusal(NamedTuple):
    """Why HubSpot refused a whole request, recorded for each of its rows (stage ``hubspot``)."""

    category: str
    message: str
    field: str | None = None


class Wording(NamedTuple):
    """Words for log lines and errors: ``noun`` (``events``), ``verb`` (``upsert``), ``done``
    (``upserted``) and ``rerun`` (why re-running after a failure is safe)."""

    noun: str
    verb: str
    done: str
    rerun: str


class WriteKind(Protocol):
    """What is specific to one kind of write. The pipeline does everything else.

    Attributes: ``mapper`` (:class:`RowMapper`), ``key_fields`` (names of the key's parts, for the
    results file and messages), ``words`` (:class:`Wording`), ``overlap_sends`` (see
    :class:`WriteKindBase`).

    The optional abilities (``overlap_sends``, :meth:`context_key`, :meth:`row_category`) are part
    of the contract, so mypy checks them; :class:`WriteKindBase` gives their defaults and a kind
    overrides only what it does differently.
    """

    @property
    def mapper(self) -> RowMapper: ...

    @property
    def key_fields(self) -> tuple[str, ...]: ...

    @property
    def words(self) -> Wording: ...

    @property
    def overlap_sends(self) -> bool:
        """Whether full batches may leave while the input is still read (see ``run_writes``)."""
        ...

    def route(self, key: Key, payload: Mapping[str, Any]) -> Route:
        """The request group and phase of a valid row."""
        ...

    def send(self, client: HubSpotApi, group: Key, payloads: Sequence[Mapping[str, Any]]) -> Answer:
        """Send one request holding ``payloads`` (all of ``group``); raise the client's typed errors."""
        ...

    def key_from_context(self, context: Mapping[str, Any]) -> Key | None:
        """The key a per-row error's ``context`` names, or ``None`` (``inputIndex`` is tried first)."""
        ...

    def context_key(self, item: WriteItem) -> Key:
        """What :meth:`key_from_context` returns for this row's errors."""
        ...

    def object_id(self, result: Mapping[str, Any]) -> str | None:
        """HubSpot's id in one entry of ``results``, if any."""
        ...

    def row_category(self, category: str, field: str | None) -> str:
        """HubSpot's category of a per-row error as the kind reports it."""
        ...

    def refuse_request(self, error: HubSpotError, group: Key) -> Refusal | None:
        """A request-level error that is permanent for THESE rows only (e.g. a 404 for an event
        HubSpot does not know): the reason to record for each row. ``None``: a whole-batch 400 is
        split to find the bad rows; anything else propagates and fails the run."""
        ...


class WriteKindBase:
    """The defaults of a kind's optional abilities; a kind subclasses it and overrides what differs.

    * ``overlap_sends`` (``False``): a kind with one endpoint, no phases and idempotent by key says
      ``True`` to let full batches leave while the input is still read.
    * :meth:`context_key` (the row's whole key): a kind whose error contexts name a row by less
      than its key (participations: the contact alone) returns that part.
    * :meth:`row_category` (unchanged): a kind may report a per-row category its own way.
    """

    overlap_sends: bool = False

    def context_key(self, item: WriteItem) -> Key:
        """The key :meth:`WriteKind.key_from_context` returns for this row's errors: its whole key."""
        return item.key

    def row_category(self, category: str, field: str | None) -> str:
        """HubSpot's category of a per-row error, as the kind reports it: unchanged."""
        return category


@dataclass(frozen=True)
class RowHooks:
    """Callbacks a state store plugs into the pipeline (all optional, all called from the
    pipeline's own thread, never concurrently).

    :param unchanged: called for each winning row before sending; ``True`` means HubSpot already
        holds this payload: the row is counted ``unchanged`` and not sent.
    :param confirmed: called for each row HubSpot confirmed, with its object id when known.
    :param refused: called for each row HubSpot refused.
    :param prepare: called once after pass 1 (every row read, validated and de-duplicated), before
        any ``unchanged`` call and before any request, with a function that iterates the winning
        rows in sending order (it may be called more than once). A state store decides here which
        rows it will send and publishes that before the first request; raising here stops the run
        with nothing sent. Called on dry runs and when no row is valid too.
    """

    unchanged: Callable[[WriteItem], bool] | None = None
    confirmed: Callable[[WriteItem, str | None], None] | None = None
    refused: Callable[[WriteItem], None] | None = None
    prepare: Callable[[Callable[[], Iterator[WriteItem]]], None] | None = None
