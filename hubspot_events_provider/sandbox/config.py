"""Configuration and record types of the local HubSpot sandbox.

:class:`SandboxConfig` holds every knob of :class:`~hubspot_events_provider.sandbox.SandboxServer`
(rate limits, partial-failure mode, OAuth clients, faults); :class:`Fault` describes one injected
failure and :class:`RequestRecord` is one entry of the request log. Stdlib only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["5xx_before", "5xx_after", "drop_before", "drop_after", "truncate", "latency", "429"]
FaultRoute = Literal["upsert", "read", "attendance", "any"]
PartialMode = Literal["200", "207", "400"]
UnknownEventMode = Literal["404", "row"]
RowErrorShape = Literal["full", "event_id", "message", "count"]

FAULT_KINDS: tuple[str, ...] = (
    "5xx_before",
    "5xx_after",
    "drop_before",
    "drop_after",
    "truncate",
    "latency",
    "429",
)
FAULT_ROUTES: tuple[str, ...] = ("upsert", "read", "attendance", "any")
PARTIAL_MODES: tuple[str, ...] = ("200", "207", "400")
UNKNOWN_EVENT_MODES: tuple[str, ...] = ("404", "row")
ROW_ERROR_SHAPES: tuple[str, ...] = ("full", "event_id", "message", "count")

#: Custom properties the sandbox account defines on its marketing event object (what the example
#: DAGs, the warehouse fixture and the tests send); HubSpot silently drops any other.
DEFAULT_CUSTOM_PROPERTIES: tuple[str, ...] = ("region", "capacity", "city", "language", "topic")

#: Contacts every sandbox starts with (and gets back on reset): real HubSpot contact ids exceed
#: 2^31 (47733471576 is the guide's example, 86097279137 a live test's), so most seeds do too; one
#: sits exactly on 2^31 and one is small, to catch a client that narrows or pads ids.
SEED_CONTACTS: tuple[dict[str, Any], ...] = (
    {"vid": 47733471576, "email": "erin.existing@example.com", "properties": {"firstname": "Erin"}},
    {"vid": 86097279137, "email": "omar.onfile@example.org", "properties": {"firstname": "Omar"}},
    {"vid": 2147483648, "email": "ada.atlimit@example.net", "properties": {"firstname": "Ada"}},
    {"vid": 9007199254740993, "email": "big.vid@example.com", "properties": {"firstname": "Bea"}},
    {"vid": 151, "email": "sam.small@example.com", "properties": {"firstname": "Sam"}},
)

#: Default :attr:`SandboxConfig.read_lag_s`: HubSpot's events "become searchable by externalEventId a
#: few minutes after creation"; two minutes is the low end of that.
DEFAULT_READ_LAG_S = 120.0


@dataclass
class Fault:
    """One injected failure.

    :param kind: ``5xx_before`` (answer ``status``, nothing applied), ``5xx_after`` (apply, then answer
        ``status``), ``drop_before`` / ``drop_after`` (close the socket with no HTTP answer, before /
        after applying), ``truncate`` (apply, answer 200 with a cut-off body), ``latency`` (sleep
        ``latency_s`` first, then answer normally), ``429`` (TEN_SECONDLY_ROLLING as if another app
        spent the budget).
    :param probability: chance of injection per matching request (seeded RNG).
    :param times: maximum number of injections; ``None`` = unlimited.
    :param route: ``upsert`` (POST events/upsert), ``read`` (GET data routes), ``attendance`` (POST
        attendance create / email-create) or ``any`` data route.
    :param status: HTTP status of ``5xx_*`` faults.
    :param latency_s: sleep of ``latency`` faults, in seconds.
    """

    kind: FaultKind
    probability: float = 1.0
    times: int | None = None
    route: FaultRoute = "any"
    status: int = 503
    latency_s: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.route not in FAULT_ROUTES:
            raise ValueError(f"unknown fault route {self.route!r}; expected one of {FAULT_ROUTES}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability must be within [0, 1], got {self.probability}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build a fault from a JSON object (as accepted by ``POST /_sandbox/config``).

        :param data: mapping of :class:`Fault` field names to values.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault field(s): {sorted(unknown)}")
        return cls(**data)


@dataclass
class SandboxConfig:
    """Every knob of the sandbox; see ``docs/sandbox-reference.md``.

    :param tokens: valid static Bearer tokens (private app / service key).
    :param rate_limit: requests per rolling window per app; ``None`` = unlimited.
    :param rate_window_s: length of the rolling window (TEN_SECONDLY_ROLLING), in seconds.
    :param daily_limit: answer 429 ``DAILY`` once this many requests were made; ``None`` = unlimited.
    :param partial_mode: answer to a partly invalid upsert batch: ``"200"``, ``"207"`` or ``"400"``.
    :param missing_scopes: every data route answers 403 ``MISSING_SCOPES``.
    :param latency_s: ``(low, high)`` uniform random latency added to every data request.
    :param oauth_clients: OAuth client id -> client secret.
    :param refresh_tokens: OAuth refresh token -> client id it belongs to.
    :param access_token_ttl_s: ``expires_in`` of issued OAuth access tokens, in seconds.
    :param retry_after_header: add ``Retry-After`` to 429 answers (HubSpot does not document it).
    :param reject_external_event_ids: external event ids refused (VALIDATION_ERROR) though valid.
    :param seed: seed of the latency and fault RNG.
    :param faults: injected failures, tried in order; at most one per request.
    :param app_id: the HubSpot app id every token belongs to (one app per sandbox).
    :param hub_id: the HubSpot account (portal) id reported by the OAuth token endpoint.
    :param app_tokens: more static Bearer tokens, each belonging to another app (token -> appId);
        the tokens of ``tokens`` and every OAuth access token belong to ``app_id``. External ids are
        scoped per app: an app never reads, finds, cancels or deletes another app's events.
    :param batch_delete_status: success status of ``POST /events/delete``: ``202`` (what HubSpot
        answers live, per third-party live tests; the spec declares none) or ``204``.
    :param attendance_unknown_event: answer to attendance for an event HubSpot does not know
        (undocumented): ``"404"`` refuses the whole request (the default: the least helpful, the
        client must fail every row of the request itself), ``"row"`` answers 200 with one
        ``OBJECT_NOT_FOUND`` error per input.
    :param complete_marks_no_shows: ``/complete`` turns registered contacts who never attended into
        ``NO_SHOW`` (counters then move from ``registered`` to ``noShows``); HubSpot does not document
        it, the default is the shape that changes the counters.
    :param seed_contacts: contacts that exist before any request (``vid``, ``email``, ``properties``).
    :param participation_lag_s: API reads of participations (counters, breakdowns, the counters of
        event reads) see them as they were this many seconds ago: HubSpot processes participation
        writes asynchronously. The default makes a read right after a write miss it, as in HubSpot;
        ``0`` shows writes at once.
    :param read_lag_s: HubSpot's read lag for events, in seconds: API reads of events (the list route
        ``GET <prefix>?limit=&after=``, ``GET /events/{externalEventId}``, ``GET /events/search`` and
        the participation reads, which find their event by external ids or objectId) see every event
        as it was this many seconds ago. HubSpot documents that events "become searchable by
        externalEventId a few minutes after creation", so by default a read right after a write
        misses it: a created event is absent (404, not listed, not found), an updated, cancelled,
        completed or hand-edited one shows its previous version, a deleted one is still there. Writes
        (upsert, delete, cancel, complete, attendance) and their answers see the present at once, as
        do the introspection helpers (:meth:`SandboxServer.events`, ``GET /_sandbox/events``).
        ``0`` shows writes at once. The default, ``120`` (the low end of "a few minutes"), is for a
        sandbox that behaves like HubSpot; the pytest fixtures use
        :data:`~hubspot_events_provider.sandbox.pytest_plugin.TEST_READ_LAG_S`. A lag raised at
        runtime shows no versions older than the ones the previous lag still needed.
    :param row_error_shape: how a per-row error of an upsert (or an attendance request, see
        :mod:`~hubspot_events_provider.sandbox.attendance`) names its row (HubSpot does not
        document it): ``"full"`` (``context`` holds ``inputIndex`` and both external ids),
        ``"event_id"`` (``context`` holds only ``externalEventId``), ``"message"`` (empty context, the
        message names the event) or ``"count"`` (the default, the least helpful: ``numErrors`` and no
        ``errors[]`` at all). In a whole-batch 400 (``partial_mode="400"``) the error details carry
        the same context or message; ``"count"`` names no row.
    :param custom_properties: the custom properties the account defines on its marketing event
        object. Any other one sent in an upsert is silently dropped, as HubSpot does ("they will be
        filtered out and not set"); the answer still succeeds.
    """

    tokens: tuple[str, ...] = ("sandbox-token",)
    rate_limit: int | None = None
    rate_window_s: float = 10.0
    daily_limit: int | None = None
    partial_mode: PartialMode = "200"
    missing_scopes: bool = False
    latency_s: tuple[float, float] = (0.0, 0.0)
    oauth_clients: dict[str, str] = field(default_factory=lambda: {"client-id": "client-secret"})
    refresh_tokens: dict[str, str] = field(default_factory=lambda: {"refresh-token": "client-id"})
    access_token_ttl_s: float = 1800
    retry_after_header: bool = False
    reject_external_event_ids: tuple[str, ...] = ()
    seed: int = 0
    faults: list[Fault] = field(default_factory=list)
    app_id: int = 1234567
    hub_id: int = 62515
    app_tokens: dict[str, int] = field(default_factory=dict)
    batch_delete_status: int = 202
    attendance_unknown_event: UnknownEventMode = "404"
    complete_marks_no_shows: bool = True
    seed_contacts: tuple[dict[str, Any], ...] = SEED_CONTACTS
    participation_lag_s: float = 1.0
    read_lag_s: float = DEFAULT_READ_LAG_S
    row_error_shape: RowErrorShape = "count"
    custom_properties: tuple[str, ...] = DEFAULT_CUSTOM_PROPERTIES

    def __post_init__(self) -> None:
        self.tokens = tuple(self.tokens)
        self.app_tokens = {str(k): int(v) for k, v in dict(self.app_tokens).items()}
        if self.batch_delete_status not in (202, 204):
            raise ValueError(f"batch_delete_status must be 202 or 204, got {self.batch_delete_status!r}")
        self.reject_external_event_ids = tuple(self.reject_external_event_ids)
        low, high = self.latency_s
        self.latency_s = (float(low), float(high))
        self.faults = [f if isinstance(f, Fault) else Fault.from_dict(f) for f in self.faults]
        self.seed_contacts = tuple(dict(c) for c in self.seed_contacts)
        if self.attendance_unknown_event not in UNKNOWN_EVENT_MODES:
            raise ValueError(
                f"attendance_unknown_event must be one of {UNKNOWN_EVENT_MODES}, "
                f"got {self.attendance_unknown_event!r}"
            )
        if self.row_error_shape not in ROW_ERROR_SHAPES:
            raise ValueError(
                f"row_error_shape must be one of {ROW_ERROR_SHAPES}, got {self.row_error_shape!r}"
            )
        self.custom_properties = tuple(str(name) for name in self.custom_properties)
        if self.participation_lag_s < 0:
            raise ValueError("participation_lag_s must be >= 0")
        self.read_lag_s = float(self.read_lag_s)
        if not self.read_lag_s >= 0:  # also refuses NaN
            raise ValueError(f"read_lag_s must be >= 0, got {self.read_lag_s!r}")
        if self.partial_mode not in PARTIAL_MODES:
            raise ValueError(f"partial_mode must be one of {PARTIAL_MODES}, got {self.partial_mode!r}")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError("rate_limit must be >= 1 or None")
        if self.rate_window_s <= 0:
            raise ValueError("rate_window_s must be > 0")

    def replace(self, **changes: Any) -> SandboxConfig:
        """Return a copy with ``changes`` applied (validated like a new config).

        :param changes: :class:`SandboxConfig` field names and their new values.
        :raises ValueError: on an unknown field name or an invalid value.
        """
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown sandbox config field(s): {sorted(unknown)}")
        if "latency_s" in changes:
            changes["latency_s"] = tuple(changes["latency_s"])
        return dataclasses.replace(self, **changes)

    def public_dict(self) -> dict[str, Any]:
        """The config as a JSON-able dict, without tokens, secrets or refresh tokens."""
        return {
            "rate_limit": self.rate_limit,
            "rate_window_s": self.rate_window_s,
            "daily_limit": self.daily_limit,
            "partial_mode": self.partial_mode,
            "missing_scopes": self.missing_scopes,
            "latency_s": list(self.latency_s),
            "access_token_ttl_s": self.access_token_ttl_s,
            "retry_after_header": self.retry_after_header,
            "reject_external_event_ids": list(self.reject_external_event_ids),
            "seed": self.seed,
            "faults": [dataclasses.asdict(f) for f in self.faults],
            "app_id": self.app_id,
            "hub_id": self.hub_id,
            "apps": sorted({self.app_id, *self.app_tokens.values()}),
            "batch_delete_status": self.batch_delete_status,
            "attendance_unknown_event": self.attendance_unknown_event,
            "complete_marks_no_shows": self.complete_marks_no_shows,
            "seed_contacts": [dict(c) for c in self.seed_contacts],
            "participation_lag_s": self.participation_lag_s,
            "read_lag_s": self.read_lag_s,
            "row_error_shape": self.row_error_shape,
            "custom_properties": list(self.custom_properties),
        }


@dataclass(frozen=True)
class RequestRecord:
    """One request seen by the sandbox (introspection routes are not recorded).

    :param at: ``time.monotonic()`` when the request arrived.
    :param method: HTTP method.
    :param path: URL path without the query string.
    :param query: raw query string ("" when none).
    :param status: HTTP status answered; ``None`` when the connection was dropped without an answer.
    :param app: app id of the authenticated caller, ``None`` when unauthenticated.
    :param inputs: the ``inputs`` list of a batch body (upsert / delete), else ``None``.
    :param fault: kind of the fault injected into this request, if any.
    """

    at: float
    method: str
    path: str
    query: str
    status: int | None
    app: int | None
    inputs: list[Any] | None
    fault: str | None

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-able dict."""
        return dataclasses.asdict(self)
