"""HTTP request handler of the sandbox: parsing, auth, rate limits, faults, answers, request log.

Order for a HubSpot data route: Bearer auth (401) -> rolling window / daily limit (429) -> fault
pick -> scopes (403) -> latency -> ``*_before`` faults -> route -> ``*_after`` / ``truncate`` faults.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from hubspot_events_provider.sandbox import account, introspection, responses, routes
from hubspot_events_provider.sandbox.config import Fault, RequestRecord
from hubspot_events_provider.sandbox.oauth import TOKEN_PATHS, token_endpoint
from hubspot_events_provider.sandbox.routes import Reply

if TYPE_CHECKING:
    from hubspot_events_provider.sandbox.server import SandboxServer, _HTTPServer

JSON_TYPE = "application/json;charset=utf-8"


class SandboxHandler(BaseHTTPRequestHandler):
    """Handles one HTTP connection (HTTP/1.1 keep-alive) for a :class:`SandboxServer`."""

    protocol_version = "HTTP/1.1"
    server_version = "HubSpotSandbox/1.0"
    server: _HTTPServer

    # -- plumbing --------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (tokens never reach a log line)."""

    def setup(self) -> None:
        """Register the connection so :meth:`SandboxServer.stop` can close idle keep-alive sockets."""
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        """Unregister the connection."""
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    @property
    def sandbox(self) -> SandboxServer:
        """The owning sandbox."""
        return self.server.sandbox

    def do_GET(self) -> None:
        """Handle GET."""
        self._handle("GET")

    def do_POST(self) -> None:
        """Handle POST."""
        self._handle("POST")

    def do_DELETE(self) -> None:
        """Handle DELETE."""
        self._handle("DELETE")

    def do_PUT(self) -> None:
        """Handle PUT (no such route; answered 404/405 through routing)."""
        self._handle("PUT")

    def do_PATCH(self) -> None:
        """Handle PATCH (no such route; answered 404/405 through routing)."""
        self._handle("PATCH")

    # Methods no route serves are answered 405 + Allow through routing (HubSpot-shaped JSON), not
    # with http.server's HTML 501, which a client would read as a server error.
    def do_OPTIONS(self) -> None:
        """Handle OPTIONS (no such route; answered 404/405 through routing)."""
        self._handle("OPTIONS")

    def do_TRACE(self) -> None:
        """Handle TRACE (no such route; answered 404/405 through routing)."""
        self._handle("TRACE")

    def do_QUERY(self) -> None:
        """Handle QUERY (no such route; answered 404/405 through routing)."""
        self._handle("QUERY")

    # -- main flow -------------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        arrived = time.monotonic()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        body = self.rfile.read(length) if length > 0 else b""
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path) if url.path.startswith("/_sandbox") else url.path
        if path.startswith("/_sandbox"):
            self._send(introspection.handle(self.sandbox, method, path, body))
            return
        state = self.sandbox.state
        record = {
            "at": arrived,
            "method": method,
            "path": url.path,
            "query": url.query,
            "inputs": _peek_inputs(body),
        }
        if path in TOKEN_PATHS:
            state.bump("token_requests")
            reply = (
                token_endpoint(state, self.headers.get("Content-Type", ""), body)
                if method == "POST"
                else Reply(
                    405, responses.error_body("METHOD_NOT_ALLOWED", f"Method {method} is not allowed.")
                )
            )
            self._finish(record, reply, None, None)
            return
        if path.rstrip("/") in account.PATHS:  # authenticated and rate-counted like the data routes
            self._data_route(record, routes.Request(method, path.rstrip("/"), "", _query(url.query), body))
            return
        split = routes.split_prefix(path)
        if split is None:
            self._finish(
                record, Reply(404, responses.not_found(f"No route for {method} {path}.")), None, None
            )
            return
        content_type = self.headers.get("Content-Type", "")
        request = routes.Request(
            method, split[0], split[1], _query(url.query), body, content_type=content_type
        )
        self._data_route(record, request)

    def _data_route(self, record: dict[str, Any], req: routes.Request) -> None:
        state = self.sandbox.state
        token = _bearer(self.headers.get("Authorization"))
        verdict, seconds_ago = state.check_token(token)
        if verdict != "ok":
            body = (
                responses.expired_authentication(seconds_ago)
                if verdict == "expired"
                else responses.invalid_authentication()
            )
            self._finish(record, Reply(401, body, headers=state.rate_headers()), None, None)
            return
        app = state.app_for_token(token)
        token = None  # not kept in the frame any longer than needed
        req = dataclasses.replace(req, app=app)
        decision = state.count_request()
        headers = dict(decision.headers)
        if decision.policy is not None:
            self._finish(record, Reply(429, responses.rate_limited(decision.policy, app), headers), app, None)
            return
        fault = state.pick_fault(routes.route_kind(req.method, req.rest))
        if fault is not None and fault.kind == "429":
            state.bump("rate_limited")
            headers["X-HubSpot-RateLimit-Remaining"] = "0"
            if state.config.retry_after_header:
                headers["Retry-After"] = str(max(1, round(state.config.rate_window_s)))
            body429 = responses.rate_limited("TEN_SECONDLY_ROLLING", app)
            self._finish(record, Reply(429, body429, headers), app, fault)
            return
        if state.config.missing_scopes and req.prefix not in account.PATHS:  # account info needs no scope
            scope = responses.WRITE_SCOPE if routes.needs_write_scope(req.method) else responses.READ_SCOPE
            self._finish(record, Reply(403, responses.missing_scopes(scope), headers), app, fault)
            return
        delay = state.draw_latency() + (
            fault.latency_s if fault is not None and fault.kind == "latency" else 0.0
        )
        if delay > 0:
            time.sleep(delay)
        kind = fault.kind if fault is not None else None
        if kind == "5xx_before" and fault is not None:
            self._finish(
                record, Reply(fault.status, responses.server_error(fault.status), headers), app, fault
            )
            return
        if kind == "drop_before":
            self._drop(record, app, fault)
            return
        try:
            reply = routes.dispatch(state, req)
        except Exception:  # noqa: BLE001 - a sandbox bug must still answer HubSpot-shaped JSON, not hang
            reply = Reply(500, responses.server_error(500))
        reply.headers.update(headers)
        if kind == "5xx_after" and fault is not None:
            failed = Reply(fault.status, responses.server_error(fault.status), headers)
            self._finish(record, failed, app, fault)
        elif kind == "drop_after":
            self._drop(record, app, fault)
        elif kind == "truncate":
            self._finish(record, reply, app, fault, truncate=True)
        else:
            self._finish(record, reply, app, fault)

    # -- answers ---------------------------------------------------------------------------------

    def _finish(
        self,
        record: dict[str, Any],
        reply: Reply,
        app: int | None,
        fault: Fault | None,
        *,
        truncate: bool = False,
    ) -> None:
        self.sandbox.state.record(
            RequestRecord(
                **record,
                status=reply.status,
                app=app,
                fault=fault.kind if fault is not None else None,
            )
        )
        self._send(reply, truncate=truncate)

    def _drop(self, record: dict[str, Any], app: int | None, fault: Fault | None) -> None:
        """Close the socket without any HTTP answer."""
        self.sandbox.state.record(
            RequestRecord(**record, status=None, app=app, fault=fault.kind if fault else None)
        )
        self.close_connection = True
        _shutdown(self.connection)

    def _send(self, reply: Reply, *, truncate: bool = False) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", JSON_TYPE)
        if reply.status != 204:
            self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if truncate:
            self.wfile.write(payload[: max(0, len(payload) // 2)])
            self.close_connection = True
            _shutdown(self.connection)
            return
        if payload:
            self.wfile.write(payload)


def _shutdown(sock: socket.socket) -> None:
    """Shut a socket down both ways, ignoring errors of an already-closed peer."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _peek_inputs(body: bytes) -> list[Any] | None:
    """The ``inputs`` list of a JSON batch body, for the request log; ``None`` otherwise."""
    if not body.startswith(b"{"):
        return None
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    inputs = decoded.get("inputs") if isinstance(decoded, dict) else None
    return inputs if isinstance(inputs, list) else None


def _query(raw: str) -> dict[str, str]:
    """First value of each query parameter."""
    out: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(raw, keep_blank_values=True):
        out.setdefault(key, value)
    return out
