"""``SandboxServer``: a local HubSpot-compatible Marketing Events API on 127.0.0.1.

Runs a :class:`http.server.ThreadingHTTPServer` (daemon threads) in a background thread; usable as
a context manager or through :meth:`SandboxServer.start` / :meth:`SandboxServer.stop`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from hubspot_events_provider.sandbox import handedit, shapes
from hubspot_events_provider.sandbox.config import Fault, RequestRecord, SandboxConfig
from hubspot_events_provider.sandbox.handler import SandboxHandler
from hubspot_events_provider.sandbox.state import SandboxState

HOST = "127.0.0.1"


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its sandbox and its open connections."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver listens with a backlog of 5: when a hundred clients connect at once (16
    # processes x 8 threads) the kernel drops the surplus SYNs and they arrive a 1 s retransmit
    # later, a stall HubSpot's front door does not have. The kernel caps it at somaxconn.
    request_queue_size = 1024

    def __init__(self, port: int, sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__((HOST, port), SandboxHandler)

    def track(self, conn: socket.socket, *, add: bool) -> None:
        """Add or remove an open client connection.

        :param conn: the client socket.
        :param add: ``True`` to add, ``False`` to remove.
        """
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_connections(self) -> None:
        """Shut down every open client connection (idle keep-alive sockets included)."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class SandboxServer:
    """A local HubSpot Marketing Events API; see ``docs/sandbox-reference.md``.

    :param config: the configuration; defaults to ``SandboxConfig()``.
    :param port: TCP port on 127.0.0.1; 0 picks a free port.
    """

    def __init__(self, config: SandboxConfig | None = None, *, port: int = 0) -> None:
        self.state = SandboxState(config if config is not None else SandboxConfig())
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Bind and serve in a daemon thread; returns ``self``. Idempotent."""
        if self._httpd is None:
            self._httpd = _HTTPServer(self._port, self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name=f"hubspot-sandbox-{self.port}",
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and release the port. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765``."""
        return f"http://{HOST}:{self.port}"

    @property
    def token(self) -> str:
        """The first static Bearer token."""
        return self.state.config.tokens[0]

    @property
    def config(self) -> SandboxConfig:
        """The current configuration."""
        return self.state.config

    # -- knobs -----------------------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Change config fields at runtime (thread-safe).

        :param changes: :class:`SandboxConfig` fields, e.g. ``partial_mode="400", rate_limit=50``.
        :raises ValueError: on an unknown field or an invalid value.
        """
        self.state.configure(**changes)

    def add_fault(self, fault: Fault) -> None:
        """Add a fault to inject.

        :param fault: the fault.
        """
        self.state.add_fault(fault)

    def clear_faults(self) -> None:
        """Remove every configured fault."""
        self.state.configure(faults=[])

    def expire_access_tokens(self) -> None:
        """Make every OAuth access token issued so far expired."""
        self.state.expire_access_tokens()

    def reset(self) -> None:
        """Clear events, the request log, counters, rate windows and faults."""
        self.state.reset()

    # -- HubSpot users ---------------------------------------------------------------------------

    def edit_event_by_hand(
        self,
        external_account_id: str,
        external_event_id: str,
        *,
        app_id: int | None = None,
        custom_properties: Mapping[str, str | None] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Change an event as a user in HubSpot's UI would: not an API request of the app (not
        rate-counted, not in :meth:`requests`; counted in ``stats()["hand_edits"]``).

        The event keeps its objectId and external ids; its ``updatedAt`` moves on. API reads see the
        change only after ``read_lag_s``; :meth:`events` and :meth:`get_event` see it at once.

        :param external_account_id: the event's externalAccountId.
        :param external_event_id: the event's externalEventId.
        :param app_id: the app that created it (default: ``config.app_id``).
        :param custom_properties: custom property -> new string value, ``None`` clears it; only the
            properties the account defines (``config.custom_properties``). Their source becomes
            ``CRM_UI``.
        :param fields: event fields -> new value: ``eventName``, ``eventOrganizer``, ``eventType``,
            ``eventDescription``, ``eventUrl`` (strings; ``None`` clears the optional ones),
            ``startDateTime``, ``endDateTime`` (RFC 3339 with an offset, or ``None``),
            ``eventCancelled``, ``eventCompleted`` (bools).
        :returns: the event after the edit, as :meth:`get_event` shows it.
        :raises ValueError: on a field that is not editable or a bad value (nothing is changed).
        :raises LookupError: when the app has no such event.
        """
        changes = handedit.normalise_fields(fields)
        props = handedit.normalise_properties(custom_properties or {}, self.config.custom_properties)
        key = (external_account_id, external_event_id)
        if self.state.edit_by_hand(key, changes, props, app=app_id) is None:
            raise LookupError(f"no event {key!r} of app {app_id or self.config.app_id}")
        found = self.get_event(external_account_id, external_event_id, app_id)
        assert found is not None  # just edited under the same app; deletes need the same ids
        return found

    def delete_event_by_hand(
        self, external_account_id: str, external_event_id: str, *, app_id: int | None = None
    ) -> None:
        """Delete an event as a user in HubSpot's UI would: not an API request of the app (counted in
        ``stats()["hand_deletes"]``, not in ``deletes``). API reads still see the event for
        ``read_lag_s``.

        :param external_account_id: the event's externalAccountId.
        :param external_event_id: the event's externalEventId.
        :param app_id: the app that created it (default: ``config.app_id``).
        :raises LookupError: when the app has no such event.
        """
        key = (external_account_id, external_event_id)
        if not self.state.delete_by_hand(key, app=app_id):
            raise LookupError(f"no event {key!r} of app {app_id or self.config.app_id}")

    # -- introspection ---------------------------------------------------------------------------

    def events(self, app_id: int | None = None) -> list[dict[str, Any]]:
        """Every stored event in read-response shape (with externalAccountId/EventId, objectId), as
        it is now (no ``read_lag_s``: what HubSpot holds, not what an API read sees yet).

        :param app_id: only the events this app created (default: every app's).
        """
        store = self.state.attendance
        records = self.state.all_events(app_id)
        return [store.add_counters(shapes.read_response(r), current=True) for r in records]

    def get_event(
        self, external_account_id: str, external_event_id: str, app_id: int | None = None
    ) -> dict[str, Any] | None:
        """One stored event in read-response shape as it is now (no ``read_lag_s``), or ``None``.

        :param external_account_id: the event's externalAccountId.
        :param external_event_id: the event's externalEventId.
        :param app_id: the app that created it (default: ``config.app_id``).
        """
        record = self.state.get((external_account_id, external_event_id), app=app_id)
        if record is None:
            return None
        return self.state.attendance.add_counters(shapes.read_response(record), current=True)

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact: ``vid`` (int), ``email``, ``properties``, ``createdAt``, ``origin``
        (``seed`` or ``email-create``)."""
        return self.state.attendance.contacts()

    def get_contact(self, identifier: int | str) -> dict[str, Any] | None:
        """One contact by id or email (any case), or ``None``.

        :param identifier: a contact id or an email address.
        """
        vid = self.state.attendance.contact_id(str(identifier))
        return next((c for c in self.contacts() if c["vid"] == vid), None)

    def participations(
        self, external_account_id: str | None = None, external_event_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Participations, ordered by id: ``id``, ``marketingEventId``, ``externalAccountId``,
        ``externalEventId``, ``vid``, ``email``, ``state`` (REGISTERED | ATTENDED | CANCELLED |
        NO_SHOW), ``occurredAt`` (ms as sent), ``joinedAt``, ``leftAt``, ``attendanceDurationSeconds``,
        ``attendancePercentage`` (``None`` until ``/complete``), ``createdAt``, ``updatedAt``.

        :param external_account_id: only this account's events.
        :param external_event_id: only events with this external id.
        """
        return [
            p
            for p in self.state.attendance.participations()
            if external_account_id in (None, p["externalAccountId"])
            and external_event_id in (None, p["externalEventId"])
        ]

    def requests(self) -> list[RequestRecord]:
        """The request log (introspection routes excluded)."""
        return self.state.requests()

    def stats(self) -> dict[str, int]:
        """Counters: creates, updates, applied_upserts, requests, rate_limited, rejected_rows, ..."""
        return self.state.stats()
