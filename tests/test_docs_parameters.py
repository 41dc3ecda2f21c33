"""``docs/parameters.md`` documents every argument of the operators and the sensor (a row each).

An operator's arguments are the keyword-only parameters of every ``__init__`` of the provider's
classes in its MRO, down to Airflow's own classes: the parameters every row-writing operator shares
are declared once, on ``RowWriteOperator.__init__``, and each operator passes them on with
``**kwargs``. Airflow's own (``BaseOperator``, ``BaseSensorOperator``) are Airflow's to document.
"""

from __future__ import annotations

import inspect
import re

import pytest

from tests.conftest import REPO_ROOT

DOC = (REPO_ROOT / "docs" / "parameters.md").read_text()
PACKAGE = "hubspot_events_provider"

CLASSES = [
    ("hubspot_events_provider.operators.marketing_events", "UpsertMarketingEventsOperator"),
    ("hubspot_events_provider.operators.marketing_events", "MarketingEventsUpsertCheckOperator"),
    ("hubspot_events_provider.operators.marketing_events", "DeleteMarketingEventsOperator"),
    ("hubspot_events_provider.sensors.marketing_events", "MarketingEventsSensor"),
    ("hubspot_events_provider.operators.marketing_events", "RecordMarketingEventAttendanceOperator"),
    ("hubspot_events_provider.sensors.marketing_events", "MarketingEventAttendanceSensor"),
]

#: The parameters declared once on ``RowWriteOperator.__init__`` for the three row-writing operators.
SHARED = {
    "file_format",
    "delimiter",
    "encoding",
    "sql",
    "sql_conn_id",
    "parameters",
    "fetch_size",
    "batch_size",
    "max_in_flight",
    "dry_run",
    "allow_empty",
    "rejected_path",
    "results_path",
    "payloads_path",
    "hubspot_conn_id",
    "hook_params",
    "progress_interval",
}


def _class(module: str, name: str) -> type:
    cls: type = getattr(__import__(module, fromlist=[name]), name)
    return cls


def _section(title: str, doc: str = DOC) -> str:
    start = doc.index(f"## `{title}`")
    end = doc.find("\n## ", start + 1)
    return doc[start : end if end > 0 else None]


def _rows(section: str) -> dict[str, str]:
    """``argument -> default`` cell of each table row of a section."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", section, re.MULTILINE)}


def accepted_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword-only parameters of every ``__init__`` the provider defines in ``cls``'s MRO (the
    class nearest ``cls`` wins a name), stopping at the first of Airflow's classes."""
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith(f"{PACKAGE}."):
            break  # BaseOperator, BaseSensorOperator: Airflow's own parameters
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind is p.KEYWORD_ONLY:
                found.setdefault(p.name, p)
    return found


def undocumented(cls: type, section: str) -> list[str]:
    """The parameters of ``cls`` without a row in ``section``, and those whose default is not in it."""
    rows = _rows(section)
    problems: list[str] = []
    for p in accepted_parameters(cls).values():
        if p.name not in rows:
            problems.append(f"{p.name}: no row")
            continue
        default = p.default
        if isinstance(default, bool | int | float) or (isinstance(default, str) and default):
            shown = f'"{default}"' if isinstance(default, str) else repr(default)
            if shown not in rows[p.name]:
                problems.append(f"{p.name}: default {shown} not in {rows[p.name]!r}")
    return problems


@pytest.mark.parametrize(("module", "name"), CLASSES)
def test_every_argument_has_a_row_with_its_default(module: str, name: str) -> None:
    cls = _class(module, name)
    problems = undocumented(cls, _section(name))
    assert problems == [], f"docs/parameters.md, {name}: {problems}"


@pytest.mark.parametrize(
    "name",
    [
        "UpsertMarketingEventsOperator",
        "DeleteMarketingEventsOperator",
        "RecordMarketingEventAttendanceOperator",
    ],
)
def test_the_shared_parameters_are_collected_from_the_base(name: str) -> None:
    from hubspot_events_provider.operators._rowwrite import RowWriteOperator

    cls = _class("hubspot_events_provider.operators.marketing_events", name)
    own = {
        p.name
        for p in inspect.signature(cls.__dict__["__init__"]).parameters.values()
        if p.kind is p.KEYWORD_ONLY
    }
    assert own.isdisjoint(SHARED), f"{name} declares shared parameters again: {sorted(own & SHARED)}"
    accepted = accepted_parameters(cls)
    assert set(accepted) >= SHARED
    assert accepted["batch_size"].default == 100
    assert accepted["hubspot_conn_id"].default == "hubspot_default"
    base = {
        p.name
        for p in inspect.signature(RowWriteOperator.__init__).parameters.values()
        if p.kind is p.KEYWORD_ONLY
    }
    assert base == SHARED


def test_a_missing_row_or_default_of_a_base_parameter_fails() -> None:
    """The check reads the base's parameters too: a row removed, or a default changed, is reported."""
    cls = _class("hubspot_events_provider.operators.marketing_events", "DeleteMarketingEventsOperator")
    section = _section("DeleteMarketingEventsOperator")
    assert undocumented(cls, section) == []
    without_row = re.sub(r"^\| `fetch_size` \|.*\n", "", section, flags=re.MULTILINE)
    assert undocumented(cls, without_row) == ["fetch_size: no row"]
    wrong_default = section.replace("| `batch_size` | `100` |", "| `batch_size` | `50` |")
    assert undocumented(cls, wrong_default) == ["batch_size: default 100 not in '`50`'"]
