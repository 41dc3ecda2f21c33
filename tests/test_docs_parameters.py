"""``docs/parameters.md`` documents every argument of the operators and the sensor (a row each)."""

from __future__ import annotations

import inspect
import re

import pytest

from tests.conftest import REPO_ROOT

DOC = (REPO_ROOT / "docs" / "parameters.md").read_text()


def _section(title: str) -> str:
    start = DOC.index(f"## `{title}`")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end > 0 else None]


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("hubspot_events_provider.operators.marketing_events", "UpsertMarketingEventsOperator"),
        ("hubspot_events_provider.operators.marketing_events", "MarketingEventsUpsertCheckOperator"),
        ("hubspot_events_provider.operators.marketing_events", "DeleteMarketingEventsOperator"),
        ("hubspot_events_provider.sensors.marketing_events", "MarketingEventsSensor"),
        ("hubspot_events_provider.operators.marketing_events", "RecordMarketingEventAttendanceOperator"),
        ("hubspot_events_provider.sensors.marketing_events", "MarketingEventAttendanceSensor"),
    ],
)
def test_every_argument_has_a_row_with_its_default(module: str, name: str) -> None:
    cls = getattr(__import__(module, fromlist=[name]), name)
    section = _section(name)
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", section, re.MULTILINE)}
    parameters = [p for p in inspect.signature(cls.__init__).parameters.values() if p.kind is p.KEYWORD_ONLY]
    missing = [p.name for p in parameters if p.name not in rows]
    assert missing == [], f"docs/parameters.md lacks rows for {name}: {missing}"
    for p in parameters:
        default = p.default
        if isinstance(default, bool | int | float) or (isinstance(default, str) and default):
            shown = f'"{default}"' if isinstance(default, str) else repr(default)
            assert shown in rows[p.name], f"{name}.{p.name}: default {shown} not in {rows[p.name]!r}"
