"""Every module of the package imports in the environment under test.

The lowest-direct CI job (``make test-lowest``: the declared floor of every direct dependency, on the
floor Airflow) runs this file: an import that needs a newer dependency than ``pyproject.toml``
declares (``mask_secret`` from common-compat 1.22.0, for one) fails here, not on a user's machine.
Optional extras (OpenLineage) are imported lazily, so every module imports without them too.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import hubspot_events_provider


def _modules() -> list[str]:
    names = [hubspot_events_provider.__name__]
    for info in pkgutil.walk_packages(hubspot_events_provider.__path__, prefix="hubspot_events_provider."):
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_every_module_imports(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__name__ == name


def test_the_walk_found_the_adapters() -> None:
    found = set(_modules())
    assert {
        "hubspot_events_provider.hooks.hubspot",
        "hubspot_events_provider.operators.marketing_events",
        "hubspot_events_provider.sensors.marketing_events",
        "hubspot_events_provider.core.http.client",
        "hubspot_events_provider.sandbox.server",
    } <= found
