"""Fixtures of the operator tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import airflow_filesystems


@pytest.fixture
def memory_storage() -> Iterator[Any]:
    """fsspec's in-memory filesystem registered as ``memory://`` for Airflow's ObjectStoragePath."""
    from fsspec.implementations.memory import MemoryFileSystem

    registry = airflow_filesystems()
    registry["memory"] = lambda conn_id=None: MemoryFileSystem()
    MemoryFileSystem.store.clear()
    try:
        yield MemoryFileSystem()
    finally:
        registry.pop("memory", None)
        MemoryFileSystem.store.clear()
