"""What the sensors share: seeded reservoir sampling of a results file's lines, and the default of
their ``deferrable`` parameter.

Sampling is one pass, memory bounded by the sample size; the same input and seed give the same
sample, so a sensor's reschedules and retries wait for the same rows.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import TypeVar

__all__ = ["resolve_deferrable", "seeded_sample"]

T = TypeVar("T")


def seeded_sample(items: Iterable[T], size: int, seed: int) -> tuple[list[T], int]:
    """Draw at most ``size`` items uniformly (Algorithm R with a seeded generator).

    :param items: the items, read once.
    :param size: how many to keep.
    :param seed: the generator's seed.
    :returns: the sample in input order, and how many items were seen.
    """
    rng = random.Random(seed)
    reservoir: list[tuple[int, T]] = []
    seen = 0
    for index, item in enumerate(items):
        seen += 1
        if len(reservoir) < size:
            reservoir.append((index, item))
        elif (slot := rng.randrange(seen)) < size:
            reservoir[slot] = (index, item)
    reservoir.sort(key=lambda entry: entry[0])
    return [item for _, item in reservoir], seen


def resolve_deferrable(deferrable: bool | None) -> bool:
    """A sensor's ``deferrable``: as given, else ``[operators] default_deferrable`` (off by default)."""
    if deferrable is None:
        from airflow.providers.common.compat.sdk import conf

        return bool(conf.getboolean("operators", "default_deferrable", fallback=False))
    return bool(deferrable)
