"""``HubSpotHook``: turns an Airflow Connection of type ``hubspot`` into a :class:`HubSpotClient`.

The hook is the only door to HubSpot. It reads the Connection (``password`` = access token,
``host`` = base URL, extras for the API version, timeouts, rate budget, retries and OAuth), builds
the Airflow-free client of :mod:`hubspot_events_provider.core.client`, and registers fresh OAuth
access tokens with Airflow's secrets masker. Secrets are never accepted as hook arguments.
"""

from __future__ import annotations

import warnings
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from hubspot_events_provider.core.auth import DEFAULT_OAUTH_TOKEN_PATH, Auth, OAuthAuth, StaticTokenAuth
from hubspot_events_provider.core.client import HubSpotClient
from hubspot_events_provider.core.config import DEFAULT_API_VERSION, ClientConfig, normalize_base_url
from hubspot_events_provider.core.errors import (
    HubSpotAuthError,
    HubSpotError,
    HubSpotMissingScopesError,
    HubSpotTransportError,
)
from hubspot_events_provider.get_provider_info import get_provider_info

__all__ = ["HubSpotHook"]

#: Argument names refused by the hook: secrets belong in the Connection.
SECRET_ARGUMENTS = frozenset(
    {"token", "access_token", "password", "client_secret", "refresh_token", "api_key"}
)

#: Keyword arguments that override the Connection's extras (no secrets among them).
OVERRIDABLE = frozenset(
    {
        "api_version",
        "timeout",
        "read_timeout",
        "connect_timeout",
        "max_requests_per_10s",
        "rate_window_s",
        "max_retries",
        "max_retry_time",
        "pool_size",
    }
)


class HubSpotHook(BaseHook):
    """Interact with the HubSpot Marketing Events API through a ``hubspot`` Connection.

    Connection fields: ``password`` = private app token or Service Key; ``host`` = base URL
    (default ``https://api.hubapi.com``; plain http only for loopback hosts). Extras:
    ``api_version`` (``2026-03``, ``2026-09``, ``v3``), ``timeout``/``read_timeout``,
    ``connect_timeout``, ``max_requests_per_10s`` (default 100), ``max_retries``,
    ``max_retry_time``, ``auth_type`` (``token`` or ``oauth``) and, for OAuth, ``client_id``,
    ``client_secret``, ``refresh_token`` and ``oauth_token_path``. Each extra may also be given
    as ``extra__hubspot__<name>``.

    :param hubspot_conn_id: the Airflow Connection id.
    :param kwargs: overrides of non-secret extras (``api_version``, ``max_requests_per_10s``...).
    """

    conn_name_attr = "hubspot_conn_id"
    default_conn_name = "hubspot_default"
    conn_type = "hubspot"
    hook_name = "HubSpot"

    def __init__(self, hubspot_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        secrets = sorted(SECRET_ARGUMENTS.intersection(kwargs))
        if secrets:
            message = (
                f"HubSpotHook does not accept {', '.join(secrets)} as an argument: a secret passed in "
                "code ends up in DAG files and rendered templates. Put it in the Airflow Connection "
                f"{hubspot_conn_id!r} instead (password = access token; OAuth secrets in the extras)."
            )
            warnings.warn(message, UserWarning, stacklevel=2)
            raise ValueError(message)
        logger_name = kwargs.pop("logger_name", None)
        unknown = sorted(set(kwargs) - OVERRIDABLE)
        if unknown:
            raise TypeError(f"HubSpotHook got unexpected argument(s): {', '.join(unknown)}.")
        super().__init__(logger_name=logger_name)
        self.hubspot_conn_id = hubspot_conn_id
        self.overrides: dict[str, Any] = dict(kwargs)

    # -- Connection -> client -------------------------------------------------------------------

    def _extra(self, extras: dict[str, Any], name: str) -> Any:
        if name in self.overrides:
            return self.overrides[name]
        for key in (name, f"extra__{self.conn_type}__{name}"):
            value = extras.get(key)
            if value is not None and value != "":
                return value
        return None

    def _number(self, extras: dict[str, Any], name: str, kind: type[int] | type[float], *aliases: str) -> Any:
        for key in (name, *aliases):
            value = self._extra(extras, key)
            if value is None:
                continue
            try:
                return kind(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"HubSpot connection {self.hubspot_conn_id!r}: extra {key!r} must be "
                    f"{'an integer' if kind is int else 'a number'}, got {value!r}."
                ) from None
        return None

    def build_config(self, **changes: Any) -> ClientConfig:
        """Build the :class:`ClientConfig` from the Connection.

        :param changes: fields to set on top of the Connection's values.
        :raises ValueError: when a setting is invalid (the message names it).
        """
        conn = self.get_connection(self.hubspot_conn_id)
        extras: dict[str, Any] = conn.extra_dejson or {}
        api_version = str(self._extra(extras, "api_version") or DEFAULT_API_VERSION)
        fields: dict[str, Any] = {
            "base_url": normalize_base_url(conn.host, conn.port),
            "api_version": api_version,
            "read_timeout": self._number(extras, "read_timeout", float, "timeout"),
            "connect_timeout": self._number(extras, "connect_timeout", float),
            "max_requests_per_10s": self._number(extras, "max_requests_per_10s", int),
            "rate_window_s": self._number(extras, "rate_window_s", float),
            "max_retries": self._number(extras, "max_retries", int),
            "max_retry_time": self._number(extras, "max_retry_time", float),
            "pool_size": self._number(extras, "pool_size", int),
            "backoff_base": self._number(extras, "backoff_base", float),
            "backoff_cap": self._number(extras, "backoff_cap", float),
        }
        fields.update(changes)
        try:
            return ClientConfig(**{k: v for k, v in fields.items() if v is not None})
        except ValueError as exc:
            raise ValueError(f"HubSpot connection {self.hubspot_conn_id!r}: {exc}") from None

    def build_auth(self) -> Auth:
        """Build the credentials (static token or OAuth) from the Connection."""
        conn = self.get_connection(self.hubspot_conn_id)
        extras: dict[str, Any] = conn.extra_dejson or {}
        auth_type = str(self._extra(extras, "auth_type") or "token").lower()
        if auth_type == "oauth":
            return OAuthAuth(
                str(self._extra(extras, "client_id") or ""),
                str(self._extra(extras, "client_secret") or ""),
                str(self._extra(extras, "refresh_token") or ""),
                token_path=str(self._extra(extras, "oauth_token_path") or DEFAULT_OAUTH_TOKEN_PATH),
                on_new_token=mask_secret,
            )
        if auth_type != "token":
            raise ValueError(
                f"HubSpot connection {self.hubspot_conn_id!r}: auth_type must be 'token' or 'oauth', "
                f"got {auth_type!r}."
            )
        if not conn.password:
            raise ValueError(
                f"HubSpot connection {self.hubspot_conn_id!r} has no access token: put the private app "
                "token or Service Key in the Connection password."
            )
        mask_secret(conn.password)
        return StaticTokenAuth(conn.password)

    @cached_property
    def client(self) -> HubSpotClient:
        """The :class:`HubSpotClient` of this hook, built once and shared by all threads."""
        return HubSpotClient(self.build_config(), self.build_auth())

    def get_conn(self) -> HubSpotClient:
        """Return the cached :class:`HubSpotClient`."""
        return self.client

    # -- account --------------------------------------------------------------------------------

    @cached_property
    def account_details(self) -> dict[str, Any]:
        """HubSpot's account details (``GET /account-info/v3/details``: ``portalId``, ``uiDomain``,
        ``timeZone``...), read once per hook. Any valid token may read them; no scope is needed."""
        return dict(self.get_conn().request("GET", "/account-info/v3/details").body or {})

    def get_portal_id(self) -> str:
        """The HubSpot account (portal) id of the connection's token, e.g. ``"62515"``."""
        return str(self.account_details["portalId"])

    # -- connection test ------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Make one idempotent GET (list events, ``limit=1``); never raises.

        :returns: ``(True, message)`` on success, else ``(False, message naming what failed)``.
        """
        try:
            config = self.build_config()
            config = self.build_config(max_retries=min(config.max_retries, 1), max_retry_time=20.0)
            client = HubSpotClient(config, self.build_auth())
        except Exception as exc:  # noqa: BLE001 (test_connection never raises)
            return False, f"Invalid HubSpot connection settings: {exc}"
        try:
            with client:
                client.check_access()
        except HubSpotMissingScopesError as exc:
            return False, (
                "The token is valid but lacks the scope crm.objects.marketing_events.read "
                f"(and .write for upserts). {exc}"
            )
        except HubSpotAuthError as exc:
            return False, f"Authentication failed: the access token or OAuth credentials were refused. {exc}"
        except HubSpotTransportError as exc:
            return False, f"HubSpot is unreachable at {config.base_url}. {exc}"
        except HubSpotError as exc:
            return False, f"HubSpot answered with an error. {exc}"
        except Exception as exc:  # noqa: BLE001 (test_connection never raises)
            return False, f"Connection test failed ({type(exc).__name__}): {exc}"
        return True, (
            f"Connected to HubSpot at {config.base_url} (Marketing Events API {config.api_version}); "
            "the token can read marketing events."
        )

    # -- connection form --------------------------------------------------------------------------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form (legacy style; Airflow < 3.2 and FAB-based UIs)."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget  # type: ignore[import-not-found,import-untyped,unused-ignore]
        from flask_babel import lazy_gettext  # type: ignore[import-not-found,import-untyped,unused-ignore]
        from wtforms import IntegerField, PasswordField, StringField  # type: ignore[import-not-found,import-untyped,unused-ignore]
        from wtforms.validators import NumberRange, Optional  # type: ignore[import-not-found,import-untyped,unused-ignore]

        fields = _conn_fields()
        widgets: dict[str, Any] = {}
        for name, spec in fields.items():
            label = lazy_gettext(spec["label"])
            schema = spec.get("schema", {})
            types = schema.get("type", [])
            description = spec.get("description", "")
            if schema.get("format") == "password":
                widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), description=description)
            elif "integer" in types:
                widgets[name] = IntegerField(
                    label,
                    validators=[Optional(), NumberRange(min=schema.get("minimum", 0))],
                    widget=BS3TextFieldWidget(),
                    description=description,
                    default=schema.get("default"),
                )
            else:
                widgets[name] = StringField(
                    label, widget=BS3TextFieldWidget(), description=description, default=schema.get("default")
                )
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields of the connection form (legacy style)."""
        behaviour = _connection_type()["ui-field-behaviour"]
        return {
            "hidden_fields": list(behaviour["hidden-fields"]),
            "relabeling": dict(behaviour["relabeling"]),
            "placeholders": dict(behaviour["placeholders"]),
        }


def _connection_type() -> dict[str, Any]:
    entries: list[dict[str, Any]] = get_provider_info()["connection-types"]
    return next(e for e in entries if e["connection-type"] == HubSpotHook.conn_type)


def _conn_fields() -> dict[str, Any]:
    fields: dict[str, Any] = _connection_type()["conn-fields"]
    return fields
