"""OAuth token endpoints of the sandbox (``/oauth/v1/token``, ``/oauth/v3/token``, ``/oauth/2026-03/token``).

Only ``grant_type=refresh_token`` with a form-encoded body is supported, as documented by HubSpot
(facts §4). A JSON body is refused with 400 on every path (HubSpot documents form encoding; whether
it accepts JSON is unknown). Errors follow RFC 6749 plus HubSpot's legacy ``status``/``message``.
"""

from __future__ import annotations

import urllib.parse

from hubspot_events_provider.sandbox import responses
from hubspot_events_provider.sandbox.routes import Reply
from hubspot_events_provider.sandbox.state import SandboxState

TOKEN_PATHS = ("/oauth/v1/token", "/oauth/v3/token", "/oauth/2026-03/token")
_NO_STORE = {"Cache-Control": "no-store"}


def token_endpoint(state: SandboxState, content_type: str, body: bytes) -> Reply:
    """Answer a token request.

    :param state: the sandbox state (OAuth clients, refresh tokens, issued access tokens).
    :param content_type: the request's ``Content-Type`` header.
    :param body: the raw request body.
    """
    if "application/x-www-form-urlencoded" not in content_type.lower():
        return _error(
            "invalid_request", "The request body must be application/x-www-form-urlencoded.", "BAD_REQUEST"
        )
    try:
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return _error("invalid_request", "The request body is not UTF-8.", "BAD_REQUEST")
    if form.get("grant_type") != "refresh_token":
        return _error(
            "unsupported_grant_type", "Only grant_type=refresh_token is supported.", "BAD_GRANT_TYPE"
        )
    for name in ("client_id", "client_secret", "refresh_token"):
        if not form.get(name):
            return _error("invalid_request", f"Missing required parameter {name}.", "BAD_REQUEST")
    cfg = state.config
    client_id = form["client_id"]
    if client_id not in cfg.oauth_clients:
        return _error("invalid_client", "The client_id is unknown.", "BAD_CLIENT_ID")
    if cfg.oauth_clients[client_id] != form["client_secret"]:
        return _error(
            "invalid_client", "The client_secret does not match the client_id.", "BAD_CLIENT_SECRET"
        )
    if cfg.refresh_tokens.get(form["refresh_token"]) != client_id:
        return _error("invalid_grant", "The refresh token is missing or invalid.", "BAD_REFRESH_TOKEN")
    body_out = {
        "access_token": state.issue_access_token(),
        "refresh_token": form["refresh_token"],
        "expires_in": int(cfg.access_token_ttl_s),
        "token_type": "bearer",
        "hub_id": cfg.hub_id,
        "scopes": list(responses.OAUTH_SCOPES),
    }
    return Reply(200, body_out, headers=dict(_NO_STORE))


def _error(error: str, description: str, legacy: str) -> Reply:
    return Reply(400, responses.oauth_error(error, description, legacy), headers=dict(_NO_STORE))
