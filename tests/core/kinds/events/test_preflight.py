"""``core.preflight``: a required field no row can have is one configuration error (issue 16, defect 5)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from hubspot_events_provider.core.kinds.events.mapper import EventMapper
from hubspot_events_provider.core.kinds.events.preflight import (
    MissingSourceError,
    check_required_sources,
    unreachable_fields,
)
from hubspot_events_provider.core.rows.sources import SourceRow

MAPPER = EventMapper(field_map={"id": "externalEventId", "name": "eventName", "org": "eventOrganizer"})


def rows(*datas: Any) -> list[SourceRow]:
    return [SourceRow(n, n + 1, d) for n, d in enumerate(datas, 1)]


def test_unreachable_fields_reads_field_map_and_defaults() -> None:
    assert unreachable_fields(MAPPER, ["id", "name", "org"]) == ["externalAccountId"]
    assert unreachable_fields(MAPPER, ["id", "name", "org", "externalAccountId"]) == []
    with_default = EventMapper(field_map={"id": "externalEventId"}, defaults={"externalAccountId": "a"})
    assert unreachable_fields(with_default, ["id"]) == ["eventName", "eventOrganizer"]


def test_fixed_columns_fail_at_the_first_row_before_reading_on() -> None:
    consumed: list[int] = []

    def source() -> Any:
        for row in rows(*({"id": str(n), "name": "N", "org": "O"} for n in range(100))):
            consumed.append(row.position)
            yield row

    checked = check_required_sources(source(), MAPPER, source="events.csv", fixed_columns=True)
    with pytest.raises(MissingSourceError) as info:
        next(checked)
    assert consumed == [1]
    err = info.value
    assert (err.fields, err.source, err.line) == (["externalAccountId"], "events.csv", 2)
    assert "no source key maps to the required field externalAccountId" in str(err)
    assert "the source has 'id', 'name', 'org'" in str(err)
    assert "defaults={'externalAccountId': '...'}" in str(err)
    assert str(pickle.loads(pickle.dumps(err))) == str(err)  # noqa: S301 - our own bytes


def test_varying_rows_fail_at_the_end_only_when_no_row_has_the_field() -> None:
    data = rows({"id": "1", "name": "N", "org": "O"}, {"id": "2", "name": "N", "org": "O"})
    checked = check_required_sources(data, MAPPER, source="events", fixed_columns=False)
    assert next(checked).position == 1
    assert next(checked).position == 2
    with pytest.raises(MissingSourceError, match="externalAccountId"):
        next(checked)


def test_one_row_with_the_field_makes_it_a_row_matter() -> None:
    data = rows(
        {"id": "1", "name": "N", "org": "O"},
        "not an object",
        {"id": "2", "name": "N", "org": "O", "externalAccountId": "a"},
        {"id": "3", "name": "N", "org": "O"},
    )
    assert [r.position for r in check_required_sources(data, MAPPER, source="e", fixed_columns=False)] == [
        1,
        2,
        3,
        4,
    ]


def test_complete_columns_pass_through() -> None:
    data = rows({"id": "1", "name": "N", "org": "O", "externalAccountId": "a"})
    assert list(check_required_sources(data, MAPPER, source="e", fixed_columns=True)) == data
    assert list(check_required_sources([], MAPPER, source="e", fixed_columns=True)) == []


def test_unmapped_keys_leave_the_stage_to_the_unmapped_check() -> None:
    data = rows({"id": "1", "name": "N", "org": "O", "acount": "a"})
    # 'acount' maps to nothing: the runner's unmapped-key error (with suggestions) says it better.
    assert list(check_required_sources(data, MAPPER, source="e", fixed_columns=True)) == data


def test_ignored_typo_columns_get_a_did_you_mean() -> None:
    mapper = EventMapper(field_map={"id": "externalEventId"}, ignore_unmapped=True)
    data = rows({"id": "1", "eventNme": "N", "eventorganizer": "O", "externalAccountId": "a"})
    with pytest.raises(MissingSourceError) as info:
        list(check_required_sources(data, mapper, source="e", fixed_columns=True))
    assert info.value.fields == ["eventName", "eventOrganizer"]  # keys match fields case-sensitively
    assert "Did you mean field_map={'eventNme': 'eventName', 'eventorganizer': 'eventOrganizer'}?" in str(
        info.value
    )
