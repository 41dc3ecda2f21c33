"""The exceptions table is sound, and the conformance oracle catches the defects issue 18 reported.

The second half replays the two answers the unfixed sandbox gave (a 3-digit year echoed in a
date-time; a batch delete answered 204 without a body) through the same Schemathesis checks the
conformance test runs, and shows the fixed sandbox answering correctly over real HTTP.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis import Case, Response
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup

from hubspot_events_provider.sandbox.server import SandboxServer
from tests.contract.conformance import (
    EXCEPTIONS,
    PREFIXES,
    ROUTES,
    VARIANTS,
    _raw,
    extra_checks,
    oracle,
    replaced_checks,
)
from tests.support import wait_out_read_lag

V = "2026-03"
PREFIX = PREFIXES[V]
EVENT = {"externalAccountId": "acct", "externalEventId": "e1", "eventName": "n", "eventOrganizer": "o"}


def test_every_row_names_a_served_route_a_reason_and_one_effect() -> None:
    load_all_checks()
    for row in EXCEPTIONS:
        assert row.route == "*" or row.route in ROUTES, row
        assert len(row.what) > 20, row
        assert len(row.reason) > 40, row
        assert (row.patch is None) != (row.check is None), f"a row patches the spec XOR replaces: {row}"
        assert bool(row.replaces) == (row.check is not None), row
        assert len(CHECKS.get_by_names(list(row.replaces))) == len(row.replaces), row


@pytest.mark.parametrize("row", [r for r in EXCEPTIONS if r.patch is not None], ids=lambda r: r.what[:40])
@pytest.mark.parametrize("version", list(PREFIXES))
def test_every_spec_patch_changes_the_oracle(row: Any, version: str) -> None:
    """No dead rows: each patch alters HubSpot's spec (restricted to the served routes)."""
    bare = copy.deepcopy(_raw(version))
    patched = copy.deepcopy(bare)
    assert row.patch is not None
    row.patch(patched, PREFIXES[version])
    assert patched != bare


@pytest.mark.parametrize("version", list(PREFIXES))
def test_oracle_keeps_exactly_the_served_routes(version: str) -> None:
    spec = oracle(version)
    methods = {m for ops in spec["paths"].values() for m in ops}
    assert len([1 for ops in spec["paths"].values() for _ in ops]) == len(ROUTES)
    assert methods == {"get", "post", "delete"}
    for _name, (knobs, routes) in VARIANTS.items():
        assert knobs
        assert set(routes) <= set(ROUTES)
        assert len(oracle(version, routes)["paths"]) == len(routes)


def _schema() -> Any:
    return schemathesis.openapi.from_dict(oracle(V))


def _replayed(real: requests.Response, **changes: Any) -> Response:
    """The real answer with some parts replaced (the answer the unfixed sandbox gave)."""
    response = Response.from_requests(real, verify=True)
    for name, value in changes.items():
        setattr(response, name, value)
    if "content" in changes:
        response.content_size = len(changes["content"])
        response._deserialized = schemathesis.core.NOT_SET  # type: ignore[attr-defined]
    return response


def _validate(case: Case, route: str, response: Response) -> None:
    case.validate_response(
        response, excluded_checks=replaced_checks(route), additional_checks=extra_checks(route)
    )


@pytest.fixture
def sandbox() -> Any:
    with SandboxServer() as server:
        yield server


def _call(
    sandbox: SandboxServer, method: str, rest: str, content_type: str | None = None, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return requests.request(method, sandbox.url + PREFIX + rest, headers=headers, timeout=10, **kwargs)


def test_year_below_1000_is_echoed_with_four_digits_and_oracle_refuses_three(sandbox: SandboxServer) -> None:
    item = {**EVENT, "startDateTime": "0315-05-06T05:03:03.0Z", "endDateTime": "0999-12-31T23:00:00-01:00"}
    upsert = _call(sandbox, "POST", "/events/upsert", json={"inputs": [item]})
    wait_out_read_lag(sandbox)
    listed = _call(sandbox, "GET", "")
    assert upsert.status_code == 200
    assert listed.status_code == 200
    for answer in (upsert.json()["results"][0], listed.json()["results"][0]):
        assert answer["startDateTime"] == "0315-05-06T05:03:03.000Z"
        assert answer["endDateTime"] == "1000-01-01T00:00:00.000Z"
    case = _schema()[PREFIX + "/events/upsert"]["POST"].Case(body={"inputs": [item]})
    _validate(case, "POST /events/upsert", Response.from_requests(upsert, verify=True))
    regressed = upsert.content.replace(b'"0315-05-06T05:03:03.000Z"', b'"315-05-06T05:03:03.000Z"')
    assert regressed != upsert.content
    with pytest.raises(FailureGroup, match='is not a "date-time"'):
        _validate(case, "POST /events/upsert", _replayed(upsert, content=regressed))


def test_batch_delete_answers_202_without_body_and_oracle_refuses_204(sandbox: SandboxServer) -> None:
    _call(sandbox, "POST", "/events/upsert", json={"inputs": [EVENT]})
    body = {
        "inputs": [{"appId": sandbox.config.app_id, "externalAccountId": "acct", "externalEventId": "e1"}]
    }
    answer = _call(sandbox, "POST", "/events/delete", json=body)
    assert (answer.status_code, answer.content) == (202, b"")
    assert sandbox.events() == []
    case = _schema()[PREFIX + "/events/delete"]["POST"].Case(body=body)
    _validate(case, "POST /events/delete", Response.from_requests(answer, verify=True))
    with pytest.raises(FailureGroup, match="answered 204, HubSpot 202"):
        _validate(case, "POST /events/delete", _replayed(answer, status_code=204))


def test_undeclared_method_is_405_with_allow_and_non_json_body_is_415(sandbox: SandboxServer) -> None:
    trace = _call(sandbox, "TRACE", "/events/upsert")
    assert trace.status_code == 405
    assert trace.headers["Allow"] == "POST"
    assert trace.json()["category"] == "METHOD_NOT_ALLOWED"
    options = _call(sandbox, "OPTIONS", "/events/e1")
    assert options.status_code == 405
    assert options.headers["Allow"] == "GET, DELETE"
    text = _call(
        sandbox,
        "POST",
        "/events/upsert",
        content_type="text/plain",
        data=json.dumps({"inputs": [EVENT]}),
    )
    assert text.status_code == 415
    assert text.json()["category"] == "VALIDATION_ERROR"
    assert sandbox.events() == []


def test_instant_outside_years_1_to_9999_in_utc_is_refused_not_a_500(sandbox: SandboxServer) -> None:
    sandbox.configure(row_error_shape="full")  # so the error's detail names the field
    item = {**EVENT, "startDateTime": "0001-01-01T00:00:00+01:00"}
    answer = _call(sandbox, "POST", "/events/upsert", json={"inputs": [item]})
    assert answer.status_code == 200
    assert answer.json()["numErrors"] == 1
    assert answer.json()["results"] == []
    assert answer.json()["errors"][0]["errors"][0]["in"] == "startDateTime"


def test_delete_app_id_outside_int32_is_refused(sandbox: SandboxServer) -> None:
    body = {"inputs": [{"appId": 2**31, "externalAccountId": "acct", "externalEventId": "e1"}]}
    answer = _call(sandbox, "POST", "/events/delete", json=body)
    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"
