"""Provider registration: get_provider_info() against Airflow's schemas, ProvidersManager, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hubspot_events_provider.get_provider_info import get_provider_info


def _schema(name: str) -> dict[str, Any] | None:
    resource = files("airflow") / name
    if not resource.is_file():
        return None
    loaded: dict[str, Any] = json.loads(resource.read_text())
    return loaded


def test_provider_info_matches_the_runtime_schema() -> None:
    schema = _schema("provider_info.schema.json")
    assert schema is not None
    jsonschema.validate(get_provider_info(), schema)


def test_connection_types_match_the_provider_yaml_schema() -> None:
    schema = _schema("provider.yaml.schema.json")
    if schema is None:
        pytest.skip("this Airflow ships no provider.yaml.schema.json")
    item_schema = schema["properties"]["connection-types"]
    jsonschema.validate(
        get_provider_info()["connection-types"],
        {**item_schema, "definitions": schema.get("definitions", {}), "$defs": schema.get("$defs", {})},
    )


def test_conn_fields_mark_secrets_as_passwords() -> None:
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    assert fields["client_secret"]["schema"]["format"] == "password"
    assert fields["refresh_token"]["schema"]["format"] == "password"
    assert fields["api_version"]["schema"]["enum"] == ["2026-03", "2026-09", "v3", None]


def test_providers_manager_registers_the_hook() -> None:
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    assert "airflow-provider-hubspot-events" in pm.providers
    hook_info = pm.hooks["hubspot"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "hubspot_events_provider.hooks.hubspot.HubSpotHook"
    assert hook_info.connection_id_attribute_name == "hubspot_conn_id"
    assert hook_info.hook_name == "HubSpot"


def test_airflow_providers_list_shows_the_package() -> None:
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run(
        [str(airflow), "providers", "list", "--output", "json"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "airflow-provider-hubspot-events" in result.stdout


def test_connection_form_fields_reach_airflow() -> None:
    """3.2+ reads the declarative conn-fields (3.0/3.1 need flask_appbuilder for the legacy widgets)."""
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_2_PLUS
    from airflow.providers_manager import ProvidersManager

    if not AIRFLOW_V_3_2_PLUS:
        pytest.skip("Airflow < 3.2 builds connection widgets only with flask_appbuilder installed")

    pm = ProvidersManager()
    behaviour = pm.field_behaviours["hubspot"]
    assert behaviour["hidden_fields"] == ["schema", "port", "login"]
    assert behaviour["relabeling"]["password"].startswith("Access token")
    widgets = pm.connection_form_widgets
    for name in ("api_version", "max_requests_per_10s", "client_secret", "refresh_token"):
        assert f"extra__hubspot__{name}" in widgets
        assert widgets[f"extra__hubspot__{name}"].hook_class_name.endswith("HubSpotHook")


def test_versions_lists_the_installed_version() -> None:
    from importlib.metadata import version

    assert get_provider_info()["versions"] == [version("airflow-provider-hubspot-events")]


def test_providers_manager_registers_the_trigger() -> None:
    from airflow.providers_manager import ProvidersManager

    triggers = [t for t in ProvidersManager().trigger if t.package_name == "airflow-provider-hubspot-events"]
    assert sorted((t.trigger_class_name, t.integration_name) for t in triggers) == [
        ("hubspot_events_provider.triggers.attendance", "HubSpot Marketing Events"),
        ("hubspot_events_provider.triggers.marketing_events", "HubSpot Marketing Events"),
    ]  # sorted: Airflow 3.0 lists a package's trigger modules in another order than 3.3


def test_providers_manager_registers_assets_links_and_the_decorator() -> None:
    from airflow.providers_manager import ProvidersManager

    from hubspot_events_provider import assets
    from hubspot_events_provider.decorators.marketing_events import hubspot_marketing_events_task

    pm = ProvidersManager()
    pm.initialize_providers_asset_uri_resources()
    assert pm.asset_uri_handlers["hubspot"] is assets.sanitize_uri
    assert pm.asset_factories["hubspot"] is assets.create_asset
    assert pm.asset_to_openlineage_converters["hubspot"] is assets.convert_asset_to_openlineage
    assert {
        "hubspot_events_provider.links.HubSpotMarketingEventsLink",
        "hubspot_events_provider.links.HubSpotRejectedRowsLink",
    } <= set(pm.extra_links_class_names)
    assert pm.taskflow_decorators["hubspot_marketing_events"] is hubspot_marketing_events_task
