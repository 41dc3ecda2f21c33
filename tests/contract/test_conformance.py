"""Schemathesis runs HubSpot's OpenAPI specs against the sandbox (issue 18).

Every route of :data:`~tests.contract.conformance.ROUTES` gets generated valid and invalid requests
(examples, coverage and fuzzing phases; seeded, bounded) over real HTTP on loopback; every answer is
checked for status code, content type and response schema conformance (formats included), no server
error, valid data accepted, invalid data rejected and undeclared methods answered 405. The justified
differences from the spec are the rows of :data:`~tests.contract.conformance.EXCEPTIONS`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis import Case

from hubspot_events_provider.sandbox.config import SandboxConfig
from hubspot_events_provider.sandbox.server import SandboxServer
from tests.contract.conformance import extra_checks, oracle, replaced_checks, route_of

SEED = 18
FAST_EXAMPLES = 25
SLOW_EXAMPLES = 400


def _schema(version: str, max_examples: int) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": max_examples,
                "database": "none",
                "with-security-parameters": False,
            },
        }
    )
    return schemathesis.openapi.from_dict(oracle(version), config=config)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """One sandbox with the default (least helpful) configuration for the whole module."""
    with SandboxServer(SandboxConfig()) as server:
        yield server


def _check(case: Case, sandbox: SandboxServer, version: str) -> None:
    route = route_of(case, version)
    case.call_and_validate(
        base_url=sandbox.url,
        headers={"Authorization": f"Bearer {sandbox.token}"},
        excluded_checks=replaced_checks(route),
        additional_checks=extra_checks(route),
    )


@_schema("2026-03", FAST_EXAMPLES).parametrize()
def test_sandbox_conforms_2026_03(case: Case, sandbox: SandboxServer) -> None:
    _check(case, sandbox, "2026-03")


@_schema("v3", FAST_EXAMPLES).parametrize()
def test_sandbox_conforms_v3(case: Case, sandbox: SandboxServer) -> None:
    _check(case, sandbox, "v3")


@_schema("2026-09", FAST_EXAMPLES).parametrize()
def test_sandbox_conforms_2026_09(case: Case, sandbox: SandboxServer) -> None:
    _check(case, sandbox, "2026-09")
