"""One translation of failures no Airflow retry can heal into ``AirflowFailException``.

A refused token (401 ``INVALID_AUTHENTICATION``), a missing scope (403), a spent daily budget, a
request HubSpot refuses as invalid, a wrong path (404) or invalid Connection settings fail the
same way on every try: retrying them only keeps a DAG not-red for ``retries * retry_delay``. The
operators and the sensor run their HubSpot calls inside :func:`fail_task_on_permanent_errors`,
which raises :class:`AirflowFailException` with the error's own message instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.providers.common.compat.sdk import AirflowFailException

from hubspot_events_provider.core.errors import HubSpotError
from hubspot_events_provider.hooks.hubspot import HubSpotConnectionError

__all__ = ["fail_task_on_permanent_errors", "is_permanent"]


def is_permanent(exc: BaseException) -> bool:
    """Whether ``exc`` will fail the same way on every retry of the task.

    :param exc: an exception raised while talking to HubSpot or building the client.
    """
    if isinstance(exc, HubSpotError):
        return not exc.retry_can_heal
    return isinstance(exc, HubSpotConnectionError)


@contextmanager
def fail_task_on_permanent_errors() -> Iterator[None]:
    """Re-raise a permanent failure as :class:`AirflowFailException` (same message); others pass.

    Use it around the HubSpot calls of an ``execute()`` or ``poke()``::

        with fail_task_on_permanent_errors():
            client.get_event(event_id, account_id)
    """
    try:
        yield
    except AirflowFailException:
        raise
    except Exception as exc:
        if is_permanent(exc):
            raise AirflowFailException(str(exc)) from exc
        raise
