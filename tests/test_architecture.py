"""Guards on the package's shape: an Airflow-free core and the fixed public names."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE_MODULES = [
    "hubspot_events_provider",
    "hubspot_events_provider.core.errors",
    "hubspot_events_provider.core.config",
    "hubspot_events_provider.core.auth",
    "hubspot_events_provider.core.ratelimit",
    "hubspot_events_provider.core.retry",
    "hubspot_events_provider.core.client",
    "hubspot_events_provider.core.model",
    "hubspot_events_provider.core.normalize",
    "hubspot_events_provider.core.sources",
    "hubspot_events_provider.core.spool",
    "hubspot_events_provider.core.report",
    "hubspot_events_provider.core.batching",
    "hubspot_events_provider.core.upsert",
    "hubspot_events_provider.core.jsoncodec",
    "hubspot_events_provider.core.attendance",
    "hubspot_events_provider.core.attendance_api",
    "hubspot_events_provider.core.attendance_visibility",
    "hubspot_events_provider.core.preflight",
    "hubspot_events_provider.sandbox",
]


def test_core_and_sandbox_never_import_airflow() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "print(','.join(leaked))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the core imported Airflow modules: {out.stdout.strip()}"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("hubspot_events_provider.hooks.hubspot", "HubSpotHook"),
        ("hubspot_events_provider.operators.marketing_events", "UpsertMarketingEventsOperator"),
        ("hubspot_events_provider.operators.marketing_events", "MarketingEventsUpsertCheckOperator"),
        ("hubspot_events_provider.sensors.marketing_events", "MarketingEventsSensor"),
        ("hubspot_events_provider.sandbox", "SandboxServer"),
    ],
)
def test_public_names_live_where_the_product_says(module: str, name: str) -> None:
    imported = __import__(module, fromlist=[name])
    assert isinstance(getattr(imported, name), type)


def test_hook_identity_is_the_documented_one() -> None:
    from hubspot_events_provider.hooks.hubspot import HubSpotHook

    assert HubSpotHook.conn_type == "hubspot"
    assert HubSpotHook.default_conn_name == "hubspot_default"
    assert HubSpotHook.conn_name_attr == "hubspot_conn_id"


def test_version_has_one_source() -> None:
    from importlib.metadata import version

    import hubspot_events_provider

    assert version("airflow-provider-hubspot-events") == hubspot_events_provider.__version__
