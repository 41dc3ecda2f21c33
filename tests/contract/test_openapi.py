"""The OpenAPI contract helper accepts spec-conformant bodies and names every violation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.openapi import VERSIONS, ContractError, validate_request_body, validate_response

STAMP = "2026-05-01T09:00:00.000Z"
RESULT = {
    "id": "1",
    "objectId": "1",
    "eventName": "n",
    "eventOrganizer": "o",
    "customProperties": [{"name": "region", "value": "emea"}],
    "createdAt": STAMP,
    "updatedAt": STAMP,
}
BATCH = {"status": "COMPLETE", "results": [RESULT], "startedAt": STAMP, "completedAt": STAMP}
ERROR = {
    "message": "m",
    "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
    "category": "VALIDATION_ERROR",
}
INPUT = {"externalAccountId": "a", "externalEventId": "e", "eventName": "n", "eventOrganizer": "o"}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("POST", "/events/upsert", 200, BATCH),
        ("POST", "/events/upsert", 207, {**BATCH, "numErrors": 0, "errors": []}),
        ("POST", "/events/upsert", 400, ERROR),
        ("GET", "/events/search", 200, {"results": []}),
        ("GET", "", 200, {"results": [], "paging": {"next": {"after": "5"}}}),
        ("DELETE", "/events/{externalEventId}", 404, ERROR),
    ],
)
def test_valid_responses_pass(version: str, method: str, path: str, status: int, body: Any) -> None:
    validate_response(version, method, path, status, body)


def test_full_spec_path_accepted() -> None:
    validate_response("2026-09", "post", "/marketing/marketing-events/2026-09/events/upsert", 200, BATCH)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({**BATCH, "results": [{**RESULT, "id": 1}]}, "results/0/id"),
        ({**BATCH, "startedAt": "2026-05-01 09:00"}, "startedAt"),
        ({k: v for k, v in BATCH.items() if k != "status"}, "'status' is a required property"),
        ({**BATCH, "results": [{**RESULT, "customProperties": [{"name": "x"}]}]}, "'value' is a required"),
    ],
)
def test_invalid_response_names_the_violation(body: Any, fragment: str) -> None:
    with pytest.raises(ContractError, match="events/upsert") as info:
        validate_response("2026-03", "POST", "/events/upsert", 200, body)
    assert fragment in str(info.value)


def test_error_body_needs_correlation_id() -> None:
    with pytest.raises(ContractError, match="correlationId"):
        validate_response("v3", "POST", "/events/upsert", 401, {"message": "m", "category": "c"})


def test_unknown_operation_and_version() -> None:
    with pytest.raises(ContractError, match="not an operation"):
        validate_response("2026-03", "PATCH", "/events/upsert", 200, {})
    with pytest.raises(ValueError, match="unknown spec version"):
        validate_response("v4", "POST", "/events/upsert", 200, BATCH)


def test_no_json_body_declared_for_204() -> None:
    with pytest.raises(ContractError, match="no JSON body"):
        validate_response("2026-03", "DELETE", "/events/{externalEventId}", 204, {})


def test_request_body_relaxations_and_strict_mode() -> None:
    validate_request_body("2026-03", "POST", "/events/upsert", {"inputs": [INPUT]})
    with_props = {**INPUT, "customProperties": [{"name": "region", "value": "emea"}]}
    validate_request_body("2026-03", "POST", "/events/upsert", {"inputs": [with_props]}, strict=True)
    with pytest.raises(ContractError, match="eventName"):
        validate_request_body("2026-03", "POST", "/events/upsert", {"inputs": [{**INPUT, "eventName": 3}]})
    validate_request_body("2026-03", "POST", "/events/upsert", {"inputs": [{**INPUT, "venue": "x"}]})
    with pytest.raises(ContractError, match="venue"):
        validate_request_body(
            "2026-03", "POST", "/events/upsert", {"inputs": [{**INPUT, "venue": "x"}]}, strict=True
        )
    with pytest.raises(ContractError, match="no JSON request body"):
        validate_request_body("2026-03", "GET", "/events/search", {})
