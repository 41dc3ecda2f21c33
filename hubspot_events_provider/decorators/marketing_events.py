"""``@task.hubspot_marketing_events``: a Python callable's rows stream into the upsert, in one task.

The decorated function returns or yields event rows (dicts); they go straight into
:class:`~hubspot_events_provider.operators.upsert.UpsertMarketingEventsOperator`'s pipeline in the same
task, without an XCom round trip, and the task returns the upsert's summary. A generator is consumed
row by row, so memory stays flat however many rows it yields, and (the operator's default
``overlap=True``) full batches leave while it still yields: a row whose key no earlier row had that maps
to no field stops the run with the batches already sent accounted (``overlap=False`` consumes the whole
generator first). The decorator takes every argument of the operator except the inputs (``events``,
``events_file``, ``sql``)::

    @task.hubspot_marketing_events(field_map={"id": "externalEventId"}, hubspot_conn_id="hubspot")
    def webinars(ds=None):
        for row in read_my_api(ds):
            yield row
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import (
    DecoratedOperator,
    context_merge,
    determine_kwargs,
    task_decorator_factory,
)

from hubspot_events_provider.core.rows.sources import SourceRow, rows_from_events
from hubspot_events_provider.operators.upsert import UpsertMarketingEventsOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, TaskDecorator

__all__ = ["hubspot_marketing_events_task"]

_SOURCE = "@task.hubspot_marketing_events"


class _HubSpotMarketingEventsDecoratedOperator(DecoratedOperator, UpsertMarketingEventsOperator):
    """Runs the callable, then upserts what it returned or yielded."""

    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        *(
            f
            for f in UpsertMarketingEventsOperator.template_fields
            if f not in ("events", "events_file", "sql")
        ),
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **UpsertMarketingEventsOperator.template_fields_renderers,
    }
    custom_operator_name: str = _SOURCE

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        for given in ("events", "events_file", "sql"):
            if given in kwargs:
                raise ValueError(f"{_SOURCE} takes its rows from the decorated function, not {given}=")
        # A placeholder input; the callable's rows replace it at execute time.
        super().__init__(
            python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, events=[], **kwargs
        )
        self._produced: Any = None

    def execute(self, context: Context) -> Any:
        context_merge(context, self.op_kwargs)
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        self._produced = self.python_callable(*self.op_args, **kwargs)
        return UpsertMarketingEventsOperator.execute(self, context)

    def _source_name(self) -> str:
        return f"{_SOURCE} {self.python_callable.__name__}"

    def _rows(self, context: Context) -> Iterator[SourceRow]:
        produced = self._produced
        if isinstance(produced, Iterable) and not isinstance(produced, str | bytes | Mapping | Sequence):
            produced = iter(produced)  # a generator or any other iterable: streamed, never listed
        return rows_from_events(produced, source=f"the return value of {self.python_callable.__name__}")


def hubspot_marketing_events_task(
    python_callable: Callable[..., Any] | None = None, **kwargs: Any
) -> TaskDecorator:
    """The ``@task.hubspot_marketing_events`` decorator (registered in the provider info).

    :param python_callable: the function returning or yielding event rows.
    :param kwargs: :class:`UpsertMarketingEventsOperator` arguments (all but the inputs) and
        :class:`BaseOperator` arguments.
    """
    return task_decorator_factory(
        python_callable=python_callable,
        decorated_operator_class=_HubSpotMarketingEventsDecoratedOperator,
        **kwargs,
    )
