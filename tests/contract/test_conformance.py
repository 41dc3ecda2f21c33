"""Schemathesis runs HubSpot's OpenAPI specs against the sandbox (issue 18).

Every route of :data:`~tests.contract.conformance.ROUTES` gets generated valid and invalid requests
(Schemathesis' examples, coverage and fuzzing phases; seeded, a fixed number of examples) over real
HTTP on loopback, and every answer is checked by Schemathesis for status code, content type and
response schema conformance (formats included), no server error, valid data accepted, invalid data
rejected and undeclared methods answered 405 with ``Allow``. The justified differences from HubSpot's
spec are the rows of :data:`~tests.contract.conformance.EXCEPTIONS`, nowhere else.

The bounded run (``FAST_EXAMPLES``) is part of ``make test``; ``-m slow`` runs ``SLOW_EXAMPLES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis import Case

from hubspot_events_provider.sandbox.config import SandboxConfig
from hubspot_events_provider.sandbox.server import SandboxServer
from tests.contract.conformance import ROUTES, VARIANTS, extra_checks, oracle, replaced_checks, route_of

SEED = 18
FAST_EXAMPLES = 25
SLOW_EXAMPLES = 400

Sandboxes = Callable[[str], SandboxServer]


def _schema(version: str, max_examples: int, routes: tuple[str, ...] = ROUTES) -> Any:
    """Schemathesis' view of the oracle: seeded, bounded, no example database, no auth fuzzing."""
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
    return schemathesis.openapi.from_dict(oracle(version, routes), config=config)


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Sandboxes]:
    """``sandboxes(variant)``: one running sandbox per variant (``"default"`` or a VARIANTS key)."""
    running: dict[str, SandboxServer] = {}

    def get(variant: str) -> SandboxServer:
        if variant not in running:
            knobs = VARIANTS[variant][0] if variant != "default" else {}
            running[variant] = SandboxServer(SandboxConfig(**knobs)).start()
        return running[variant]

    yield get
    for server in running.values():
        server.stop()


def _check(case: Case, sandbox: SandboxServer, version: str) -> None:
    route = route_of(case, version)
    case.call_and_validate(
        base_url=sandbox.url,
        headers={"Authorization": f"Bearer {sandbox.token}"},
        excluded_checks=replaced_checks(route),
        additional_checks=extra_checks(route),
    )


# -- bounded run (make test) ------------------------------------------------------------------------


@_schema("2026-03", FAST_EXAMPLES).parametrize()
def test_sandbox_conforms_2026_03(case: Case, sandboxes: Sandboxes) -> None:
    _check(case, sandboxes("default"), "2026-03")


@_schema("v3", FAST_EXAMPLES).parametrize()
def test_sandbox_conforms_v3(case: Case, sandboxes: Sandboxes) -> None:
    _check(case, sandboxes("default"), "v3")


@_schema("2026-09", FAST_EXAMPLES).parametrize()
def test_sandbox_conforms_2026_09(case: Case, sandboxes: Sandboxes) -> None:
    _check(case, sandboxes("default"), "2026-09")


@_schema("2026-03", FAST_EXAMPLES, VARIANTS["partial_mode=207"][1]).parametrize()
def test_sandbox_conforms_partial_207(case: Case, sandboxes: Sandboxes) -> None:
    _check(case, sandboxes("partial_mode=207"), "2026-03")


@_schema("2026-03", FAST_EXAMPLES, VARIANTS["partial_mode=400"][1]).parametrize()
def test_sandbox_conforms_partial_400(case: Case, sandboxes: Sandboxes) -> None:
    _check(case, sandboxes("partial_mode=400"), "2026-03")


@_schema("2026-03", FAST_EXAMPLES, VARIANTS["row_error_shape=full"][1]).parametrize()
def test_sandbox_conforms_row_errors_full(case: Case, sandboxes: Sandboxes) -> None:
    _check(case, sandboxes("row_error_shape=full"), "2026-03")


@_schema("2026-03", FAST_EXAMPLES, VARIANTS["row_error_shape=message,partial_mode=400"][1]).parametrize()
def test_sandbox_conforms_row_errors_message_400(case: Case, sandboxes: Sandboxes) -> None:
    _check(case, sandboxes("row_error_shape=message,partial_mode=400"), "2026-03")


# -- long run (make test-slow) ----------------------------------------------------------------------


@pytest.mark.slow
@_schema("2026-03", SLOW_EXAMPLES).parametrize()
def test_sandbox_conforms_2026_03_long(case: Case, sandboxes: Sandboxes) -> None:
    _check(case, sandboxes("default"), "2026-03")


@pytest.mark.slow
@_schema("2026-09", SLOW_EXAMPLES).parametrize()
def test_sandbox_conforms_2026_09_long(case: Case, sandboxes: Sandboxes) -> None:
    _check(case, sandboxes("default"), "2026-09")


@pytest.mark.slow
@_schema("2026-03", SLOW_EXAMPLES, VARIANTS["partial_mode=207"][1]).parametrize()
def test_sandbox_conforms_partial_207_long(case: Case, sandboxes: Sandboxes) -> None:
    _check(case, sandboxes("partial_mode=207"), "2026-03")


@pytest.mark.slow
@_schema("2026-03", SLOW_EXAMPLES, VARIANTS["partial_mode=400"][1]).parametrize()
def test_sandbox_conforms_partial_400_long(case: Case, sandboxes: Sandboxes) -> None:
    _check(case, sandboxes("partial_mode=400"), "2026-03")
