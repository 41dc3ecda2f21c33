"""``HubSpotHook``: turns an Airflow Connection of type ``hubspot`` into a :class:`HubSpotClient`.

The hook is the only door to HubSpot. It reads the Connection (``password`` = access token,
``host`` = base URL, extras for the API version, timeouts, rate budget, retries and OAuth), builds
the Airflow-free client of :mod:`hubspot_events_provider.core.http.client`, and registers fresh OAuth
access tokens with Airflow's secrets masker. Secrets are never accepted as hook arguments.
"""

from __future__ import annotations

import difflib
import warnings
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from hubspot_events_provider.core.errors import (
    HubSpotAuthError,
    HubSpotError,
    HubSpotMissingScopesError,
    HubSpotTransportError,
)
from hubspot_events_provider.core.http.auth import DEFAULT_OAUTH_TOKEN_PATH, Auth, OAuthAuth, StaticTokenAuth
from hubspot_events_provider.core.http.client import HubSpotClient
from hubspot_events_provider.core.http.config import (
    CONNECTION_KNOBS,
    ClientConfig,
    Knob,
    knob_names,
    normalize_base_url,
)
from hubspot_events_provider.get_provider_info import get_provider_info

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

__all__ = ["HubSpotConnectionError", "HubSpotHook"]

#: Argument names refused by the hook: secrets belong in the Connection.
SECRET_ARGUMENTS = frozenset(
    {
        "token",
        "access_token",
        "api_token",
        "private_app_token",
        "password",
        "client_secret",
        "refresh_token",
        "api_key",
        "hapikey",
        "hubspot_token",
    }
)

#: Keyword arguments that override the Connection's extras: every knob of
#: :data:`~hubspot_events_provider.core.http.config.CONNECTION_KNOBS` (no secrets among them).
OVERRIDABLE = knob_names()

#: The extra naming the OAuth token endpoint, and its former name (still read): Airflow masks any
#: extra whose name contains ``token``, so a connection made in the UI saved ``***`` under it.
OAUTH_ENDPOINT_KEYS = ("oauth_endpoint", "oauth_token_path")

#: Every extra the hook reads: the knobs, and the OAuth settings (which are not hook arguments).
KNOWN_EXTRAS = OVERRIDABLE | {
    "auth_type",
    "client_id",
    "client_secret",
    "refresh_token",
    *OAUTH_ENDPOINT_KEYS,
}


class HubSpotConnectionError(ValueError):
    """A Connection setting is invalid.

    :param conn_id: the Airflow Connection id (named in ``str()``, for task logs).
    :param detail: what is wrong, without the connection id (for the UI's connection test, where
        the id is Airflow's temporary one).
    """

    def __init__(self, conn_id: str, detail: str) -> None:
        self.conn_id = conn_id
        self.detail = detail
        super().__init__(f"HubSpot connection {conn_id!r}: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.conn_id, self.detail))


def _is_masked(value: str) -> bool:
    """Whether ``value`` is Airflow's mask (``***``), saved by a UI form in place of a default."""
    return bool(value) and set(value.strip()) == {"*"}


class HubSpotHook(BaseHook):
    """Interact with the HubSpot Marketing Events API through a ``hubspot`` Connection.

    Connection fields: ``password`` = access token (private app token or Service Key); ``host`` =
    base URL (default ``https://api.hubapi.com``; plain http only for loopback hosts). Extras:
    ``api_version`` (``2026-03``, ``2026-09``, ``v3``), ``timeout`` (alias ``read_timeout``),
    ``connect_timeout``, ``max_requests_per_10s`` (default 100), ``max_retries``,
    ``max_retry_time``, ``backoff_base``, ``backoff_cap``, ``rate_window_s``, ``pool_size``,
    ``budget_sharers`` (how many tasks share the app's rate budget at once; empty by default),
    ``budget_store`` (a Redis URL where every task of the app shares one rate budget; its password
    is masked) and ``budget_key`` (the budget's name there; derived from the credential by default),
    ``auth_type`` (``token`` or ``oauth``) and, for OAuth, ``client_id``, ``client_secret``,
    ``refresh_token`` and ``oauth_endpoint`` (formerly ``oauth_token_path``, still read). Each extra
    may also be given as ``extra__hubspot__<name>``.

    :param hubspot_conn_id: the Airflow Connection id.
    :param kwargs: overrides of the non-secret extras above (``api_version``, ``backoff_cap``...).
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

    @cached_property
    def connection(self) -> Connection:
        """The Airflow Connection, read once per hook."""
        return self.get_connection(self.hubspot_conn_id)

    @property
    def _extras(self) -> dict[str, Any]:
        extras: dict[str, Any] = self.connection.extra_dejson or {}
        return extras

    def _invalid(self, detail: str) -> HubSpotConnectionError:
        return HubSpotConnectionError(self.hubspot_conn_id, detail)

    def _extra(self, name: str) -> Any:
        if name in self.overrides:
            return self.overrides[name]
        extras = self._extras
        for key in (name, f"extra__{self.conn_type}__{name}"):
            value = extras.get(key)
            if value is not None and value != "":
                return value
        return None

    def _knob(self, knob: Knob) -> Any:
        for key in (knob.name, *knob.aliases):
            value = self._extra(key)
            if value is None:
                continue
            if knob.kind is str:
                return str(value)
            if isinstance(value, bool):  # True is an int to Python, not to a person
                value = str(value)
            try:
                return knob.kind(value)
            except (TypeError, ValueError):
                kind = "an integer" if knob.kind is int else "a number"
                raise self._invalid(f"extra {key!r} must be {kind}, got {value!r}.") from None
        return None

    def build_config(self, **changes: Any) -> ClientConfig:
        """Build the :class:`ClientConfig` from the Connection (read once per hook).

        :param changes: fields to set on top of the Connection's values.
        :raises HubSpotConnectionError: when a setting is invalid (the message names it).
        """
        conn = self.connection
        self._warn_unknown_extras()
        try:
            fields: dict[str, Any] = {"base_url": normalize_base_url(conn.host, conn.port)}
            fields.update({knob.field: self._knob(knob) for knob in CONNECTION_KNOBS})
            fields.update(changes)
            _mask_store_url(fields.get("budget_store"))
            return ClientConfig(**{k: v for k, v in fields.items() if v is not None})
        except HubSpotConnectionError:
            raise
        except ValueError as exc:
            raise self._invalid(str(exc)) from None

    @cached_property
    def _unknown_extras_checked(self) -> bool:
        """Warn once per hook about extras the hook does not read (a typo silently meant a default)."""
        prefix = f"extra__{self.conn_type}__"
        unknown = sorted(key for key in self._extras if key.removeprefix(prefix) not in KNOWN_EXTRAS)
        if unknown:
            self.log.warning(
                "HubSpot connection %r: ignoring unknown extra(s) %s; the defaults apply instead.",
                self.hubspot_conn_id,
                "; ".join(_unknown_extra(key.removeprefix(prefix)) for key in unknown),
            )
        return True

    def _warn_unknown_extras(self) -> None:
        _ = self._unknown_extras_checked

    def _oauth_endpoint(self) -> str:
        for key in OAUTH_ENDPOINT_KEYS:
            value = self._extra(key)
            if value is None:
                continue
            if _is_masked(str(value)):
                # A form saved Airflow's mask of the old, token-named field: the user meant the default.
                self.log.warning(
                    "HubSpot connection %r: ignoring the masked value of extra %r; using %s.",
                    self.hubspot_conn_id,
                    key,
                    DEFAULT_OAUTH_TOKEN_PATH,
                )
                continue
            return str(value)
        return DEFAULT_OAUTH_TOKEN_PATH

    def build_auth(self) -> Auth:
        """Build the credentials (static token or OAuth) from the Connection (read once per hook).

        :raises HubSpotConnectionError: when credentials are missing or invalid.
        """
        auth_type = str(self._extra("auth_type") or "token").lower()
        if auth_type == "oauth":
            try:
                return OAuthAuth(
                    str(self._extra("client_id") or ""),
                    str(self._extra("client_secret") or ""),
                    str(self._extra("refresh_token") or ""),
                    token_path=self._oauth_endpoint(),
                    on_new_token=mask_secret,
                )
            except ValueError as exc:
                raise self._invalid(str(exc)) from None
        if auth_type != "token":
            raise self._invalid(f"auth_type must be 'token' or 'oauth', got {auth_type!r}.")
        password = self.connection.password
        if not password:
            raise self._invalid(
                "no access token: put the private app token or Service Key in the Access token "
                "(password) field."
            )
        mask_secret(password)
        return StaticTokenAuth(password)

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

        The messages are short (the UI shows them in a toast) and never name the connection id
        (the UI tests a temporary copy under a generated id).

        :returns: ``(True, message)`` on success, else ``(False, message naming what failed)``.
        """
        try:
            config = self.build_config()
            config = self.build_config(max_retries=min(config.max_retries, 1), max_retry_time=20.0)
            client = HubSpotClient(config, self.build_auth())
        except HubSpotConnectionError as exc:
            return False, f"Invalid connection settings: {_short(exc.detail)}"
        except Exception as exc:  # noqa: BLE001 (test_connection never raises)
            return False, f"Invalid connection settings: {_short(str(exc))}"
        try:
            with client:
                client.check_access()
        except HubSpotMissingScopesError as exc:
            return False, (
                "The access token lacks the scope crm.objects.marketing_events.read "
                f"(and .write for upserts){_why(exc)}."
            )
        except HubSpotAuthError as exc:
            return (
                False,
                f"Authentication failed: HubSpot refused the access token or OAuth credentials{_why(exc)}.",
            )
        except HubSpotTransportError as exc:
            return False, f"HubSpot is unreachable at {config.base_url}: {_short(exc.message)}"
        except HubSpotError as exc:
            return False, f"HubSpot answered with an error{_why(exc)}: {_short(exc.message)}"
        except Exception as exc:  # noqa: BLE001 (test_connection never raises)
            return False, f"Connection test failed ({type(exc).__name__}): {_short(str(exc))}"
        return True, (
            f"Connected to HubSpot at {config.base_url} (Marketing Events API {config.api_version}); "
            "the access token can read marketing events."
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


#: Longest part of a connection-test message taken from an error (the UI shows it in a toast).
_TOAST_DETAIL = 120


def _mask_store_url(url: Any) -> None:
    """Register the ``budget_store`` URL and its password with Airflow's secrets masker, so neither
    appears in a task log, a rendered template or an XCom."""
    if not isinstance(url, str) or not url.strip():
        return
    try:
        password = urlsplit(url.strip()).password
    except ValueError:
        password = None
    if password:
        mask_secret(password)
        mask_secret(unquote(password))
    mask_secret(url)


def _unknown_extra(name: str) -> str:
    """``'name'`` with the closest known extra, for the unknown-extras warning (never a value)."""
    closest = difflib.get_close_matches(name, sorted(KNOWN_EXTRAS), n=1, cutoff=0.6)
    return f"{name!r} (did you mean {closest[0]!r}?)" if closest else repr(name)


def _short(text: str) -> str:
    """``text`` cut to fit a UI toast."""
    text = " ".join(text.split())
    return text if len(text) <= _TOAST_DETAIL else text[: _TOAST_DETAIL - 3].rstrip() + "..."


def _why(exc: HubSpotError) -> str:
    """`` (HTTP 401 INVALID_AUTHENTICATION)``: the status and HubSpot's category, if any."""
    parts = [f"HTTP {exc.status}" if exc.status is not None else "", exc.category or ""]
    words = " ".join(p for p in parts if p)
    return f" ({words})" if words else ""


def _connection_type() -> dict[str, Any]:
    entries: list[dict[str, Any]] = get_provider_info()["connection-types"]
    return next(e for e in entries if e["connection-type"] == HubSpotHook.conn_type)


def _conn_fields() -> dict[str, Any]:
    fields: dict[str, Any] = _connection_type()["conn-fields"]
    return fields
