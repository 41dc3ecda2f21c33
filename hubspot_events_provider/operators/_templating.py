"""Templating of the row-writing operators: their template fields, templated paths rendered
inline, and mapping parameters that still hold Jinja at DAG parse time.

A path ending in ``.json``/``.jsonl`` (``events_file``, ``rejected_path``...) is a path to render,
never a template file to load (see :func:`hubspot_events_provider._storage.inline_path_templates`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from airflow.providers.common.compat.sdk import BaseOperator

from hubspot_events_provider._storage import inline_path_templates

if TYPE_CHECKING:
    import jinja2
    from airflow.providers.common.compat.sdk import Context

__all__ = [
    "InlinePathTemplates",
    "Templated",
    "as_rendered",
    "has_jinja",
    "row_renderers",
    "row_template_fields",
    "unless_jinja",
]

_T = TypeVar("_T")


class Templated(Protocol):
    """How a templated mapping parameter is handed to the mapper: as it is (rendered, at run
    time), or ``None`` while it still holds Jinja (at DAG parse time, where it cannot be checked)."""

    def __call__(self, value: _T, /) -> _T | None: ...


def as_rendered(value: _T) -> _T | None:
    """A rendered parameter, as it is."""
    return value


def unless_jinja(value: _T) -> _T | None:
    """A parameter at DAG parse time: ``None`` while it still holds a Jinja template."""
    return None if has_jinja(value) else value


def has_jinja(value: Any) -> bool:
    """Whether a parameter still holds a Jinja template (it cannot be checked before rendering)."""
    if value is None:
        return False
    text = str(value)
    return "{{" in text or "{%" in text


def row_template_fields(rows_field: str, *mapping: str) -> tuple[str, ...]:
    """A row-writing operator's ``template_fields``: its inputs, ``mapping`` (its own mapping
    parameters), the report paths and the connections, in one order for every operator."""
    inputs = (rows_field, f"{rows_field}_file", "sql", "parameters")
    return (
        *inputs,
        *mapping,
        "rejected_path",
        "results_path",
        "payloads_path",
        "hubspot_conn_id",
        "sql_conn_id",
    )


def row_renderers(rows_field: str) -> dict[str, str]:
    """A row-writing operator's ``template_fields_renderers``."""
    return {rows_field: "json", "sql": "sql", "field_map": "json", "defaults": "json"}


class InlinePathTemplates(BaseOperator):
    """An operator whose :meth:`path_fields` are rendered inline even when they end in a
    ``template_ext`` (``.json``, ``.jsonl``...), both at parse time and when the task runs."""

    @classmethod
    def path_fields(cls) -> tuple[str, ...]:
        """The templated paths (none here; a subclass names its own)."""
        return ()

    def resolve_template_files(self) -> None:
        with inline_path_templates(self, self.path_fields()):
            super().resolve_template_files()

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        fields = list(template_fields)
        names = [name for name in self.path_fields() if name in fields]
        with inline_path_templates(parent, names, seen_oids):
            super()._do_render_template_fields(parent, fields, context, jinja_env, seen_oids)
